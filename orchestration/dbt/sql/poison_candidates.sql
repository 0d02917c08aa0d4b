-- The candidates of a search for the rows that break a model: the rows of raw.events that arrived from
-- %(since)s on (null: every row), with raw.events' columns and their position from 0 in arrival order. Lives
-- until the search's transaction ends.
CREATE TEMPORARY TABLE poison_candidates ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY e.received_at, e.event_id) - 1)::integer AS probe_position, e.*
FROM raw.events AS e
WHERE e.received_at >= coalesce(%(since)s::timestamptz, '-infinity');
