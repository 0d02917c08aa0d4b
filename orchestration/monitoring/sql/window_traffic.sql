-- The events that landed and those the door refused in the window of %(window)s before the current second (the
-- database's clock, in arrival time). Landed events come from the live counters' second rows (migration 0007: a
-- few thousand rows at most, whatever raw.events holds); refusals from raw.ingest_errors by its received_at index,
-- less what is not a refusal (%(not_refusals)s: a duplicate whose copy differed) and rows quarantined after landing
-- (%(quarantine_sources)s: they were offered, and counted, when they landed).
WITH clock AS (
    SELECT date_trunc('second', statement_timestamp()) AS until
)
SELECT c.until AS measured_at,
       (SELECT coalesce(sum(l.events), 0)
        FROM live.counts AS l
        WHERE l.span = 'second' AND l.start >= c.until - %(window)s::interval AND l.start < c.until) AS landed,
       (SELECT count(*)
        FROM raw.ingest_errors AS e
        WHERE e.received_at >= c.until - %(window)s::interval AND e.received_at < c.until
          AND e.reason <> ALL (%(not_refusals)s::text []) AND e.source <> ALL (%(quarantine_sources)s::text []))
           AS refused
FROM clock AS c
