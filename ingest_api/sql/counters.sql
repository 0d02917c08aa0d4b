-- The real-time counters, from the live tables alone (migration 0007), never from raw.events: the cost is the same
-- however many events are stored.
-- Parameters: minute, hour, online and in_progress, the windows' lengths (intervals). A window counts arrivals
-- (received_at) from the start of the second its length before the current second up to the moment of reading:
-- events_last_minute counts received_at >= date_trunc('second', as_of) - interval '1 minute'. It sums the second
-- rows of live.counts before its first whole minute, the minute rows before its first whole hour, and the hour rows
-- after; games in progress take the seconds before their first whole minute from live.games instead (second rows are
-- not kept for a day).
WITH clock AS (
    SELECT statement_timestamp() AS as_of, date_trunc('second', statement_timestamp(), 'UTC') AS second
), windows AS (
    SELECT w.name, w.from_at,
           date_trunc('minute', w.from_at + interval '59 seconds', 'UTC') AS minutes_from,
           date_trunc('hour', w.from_at + interval '59 minutes 59 seconds', 'UTC') AS hours_from
    FROM clock AS c
    CROSS JOIN LATERAL (VALUES
        ('minute', c.second - %(minute)s::interval),
        ('hour', c.second - %(hour)s::interval),
        ('online', c.second - %(online)s::interval),
        ('in_progress', c.second - %(in_progress)s::interval)
    ) AS w (name, from_at)
), sums AS (
    SELECT w.name, sum(t.events) AS events, sum(t.games_started) AS games_started, sum(t.games_open) AS games_open,
           sum(t.sessions_seen) AS sessions_seen
    FROM windows AS w
    CROSS JOIN LATERAL (
        SELECT c.events, c.games_started, c.games_open, c.sessions_seen
        FROM live.counts AS c
        WHERE c.span = 'second' AND c.start >= w.from_at AND c.start < w.minutes_from AND w.name <> 'in_progress'
        UNION ALL
        SELECT c.events, c.games_started, c.games_open, c.sessions_seen
        FROM live.counts AS c
        WHERE c.span = 'minute' AND c.start >= w.minutes_from AND c.start < w.hours_from
        UNION ALL
        SELECT c.events, c.games_started, c.games_open, c.sessions_seen
        FROM live.counts AS c
        WHERE c.span = 'hour' AND c.start >= w.hours_from
    ) AS t
    GROUP BY w.name
), games_head AS (
    SELECT count(*) AS games_open
    FROM live.games AS g, windows AS w
    WHERE w.name = 'in_progress' AND g.ended_at IS NULL AND g.started_at >= w.from_at
      AND g.started_at < w.minutes_from
)
SELECT c.as_of,
       coalesce((SELECT events FROM sums WHERE name = 'minute'), 0) AS events_last_minute,
       coalesce((SELECT events FROM sums WHERE name = 'hour'), 0) AS events_last_hour,
       coalesce((SELECT games_started FROM sums WHERE name = 'hour'), 0) AS games_started_last_hour,
       coalesce((SELECT games_open FROM sums WHERE name = 'in_progress'), 0) + games_head.games_open
           AS games_in_progress,
       coalesce((SELECT sessions_seen FROM sums WHERE name = 'online'), 0) AS players_online
FROM clock AS c, games_head
