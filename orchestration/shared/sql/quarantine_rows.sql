-- %(failing)s: a JSON array of {event_id, occurred_at, rule, field}. Those rows leave raw.events and the id
-- ledger and land in raw.ingest_errors with %(reason)s (schema_mismatch), %(source)s (who found them: quality,
-- pipeline) and every rule they broke; returns each moved row's event_id and rules.
WITH failing AS (
    SELECT event_id, occurred_at, array_agg(DISTINCT rule ORDER BY rule) AS rules, min(field) AS field
    FROM jsonb_to_recordset(%(failing)s::jsonb) AS f(event_id text, occurred_at timestamptz, rule text, field text)
    GROUP BY event_id, occurred_at
),
moved AS (
    DELETE FROM raw.events AS e
    USING failing AS f
    WHERE e.event_id = f.event_id AND e.occurred_at = f.occurred_at
    RETURNING e.event_id, e.type, e.received_at, e.occurred_at, e.payload, f.rules, f.field
),
forgotten AS (
    DELETE FROM raw.event_ids AS l
    USING moved AS m
    WHERE l.event_id = m.event_id AND l.occurred_at = m.occurred_at
),
recorded AS (
    INSERT INTO raw.ingest_errors (received_at, event_id, event_type, reason, field, detail, payload, source)
    SELECT received_at, event_id, type, %(reason)s, field,
           'quarantined after landing: broke ' || array_to_string(rules, ', '), payload::text, %(source)s
    FROM moved
)
SELECT event_id, rules FROM moved;
