-- One chunk of the rows a replay takes from raw.ingest_errors: still pending, replayable (a duplicate_conflict
-- records a duplicate whose first copy is stored), of one reason or of any (reason null), after the previous
-- chunk and up to the newest row when the replay began, in error_id order. At most max_rows rows holding at
-- most max_bytes of payload (a too_large payload can be 1 MiB), but always at least one row.
-- Parameters: reason, not_replayable (duplicate_conflict), after, through, max_rows, max_bytes.
WITH candidates AS (
    SELECT error_id, octet_length(payload) AS payload_bytes
    FROM raw.ingest_errors
    WHERE replayed_at IS NULL
      AND reason <> %(not_replayable)s
      AND (reason = %(reason)s OR %(reason)s::text IS NULL)
      AND error_id > %(after)s
      AND error_id <= %(through)s
    ORDER BY error_id
    LIMIT %(max_rows)s
), measured AS (
    SELECT error_id, row_number() OVER w AS position, sum(payload_bytes) OVER w AS bytes_through
    FROM candidates
    WINDOW w AS (ORDER BY error_id)
)
SELECT e.error_id, e.received_at, e.event_type, e.reason, e.payload, e.request_id, e.key_name
FROM measured AS m
JOIN raw.ingest_errors AS e USING (error_id)
WHERE m.position = 1 OR m.bytes_through <= %(max_bytes)s
ORDER BY e.error_id
