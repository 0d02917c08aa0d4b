-- The rows of a mart keyed by event_id whose events are one family's UTC day of raw.events, deleted before that
-- day is dropped: joined by event_id, so exactly the rows built from those events, whatever time the mart shows.
-- {mart} is composed by marts_follow.py. Parameters: family, day_start, day_end.
DELETE FROM {mart} AS m
USING raw.events AS e
WHERE e.source = %(family)s
  AND e.occurred_at >= %(day_start)s AND e.occurred_at < %(day_end)s
  AND m.event_id = e.event_id
