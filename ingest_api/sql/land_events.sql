-- Lands a group of admitted events and the group's refusals in one statement (one transaction, one round trip).
-- Parameters: events, a JSON array of raw.events rows plus ord (their position) and the request's provenance;
-- errors, a JSON array of raw.ingest_errors rows; conflict_reason and conflict_message, the reason and detail
-- recorded for a conflict.
-- An event lands only if it claims its event_id in the ledger; one already stored with another payload is
-- recorded as a duplicate_conflict. Claims go in event_id order so concurrent groups sharing ids lock them in
-- the same order (no deadlock). Returns, per event that landed or conflicted, its ord and which it was.
WITH incoming AS (
    SELECT *
    FROM json_to_recordset(%(events)s::json) AS t(
        ord integer, event_id text, type text, contract_version integer, occurred_at timestamptz,
        client_timestamp timestamptz, sent_at timestamptz, received_at timestamptz, session_id text,
        player_id text, is_anonymous boolean, game_id text, source text, payload text,
        payload_hash text, request_id text, key_name text, provenance text
    )
), claimed AS (
    INSERT INTO raw.event_ids (event_id, occurred_at, received_at, payload_hash)
    SELECT event_id, occurred_at, received_at, decode(payload_hash, 'hex') FROM incoming ORDER BY event_id
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), landed AS (
    INSERT INTO raw.events (
        event_id, type, contract_version, occurred_at, client_timestamp, sent_at, received_at,
        session_id, player_id, is_anonymous, game_id, source, payload
    )
    SELECT i.event_id, i.type, i.contract_version, i.occurred_at, i.client_timestamp, i.sent_at, i.received_at,
           i.session_id, i.player_id, i.is_anonymous, i.game_id, i.source, i.payload::jsonb
    FROM incoming AS i
    JOIN claimed AS c USING (event_id)
    RETURNING event_id
), conflicting AS (
    SELECT i.*
    FROM incoming AS i
    WHERE NOT EXISTS (SELECT 1 FROM landed AS l WHERE l.event_id = i.event_id)
      AND EXISTS (
          SELECT 1 FROM raw.event_ids AS e
          WHERE e.event_id = i.event_id AND e.payload_hash <> decode(i.payload_hash, 'hex')
      )
), recorded AS (
    INSERT INTO raw.ingest_errors (
        received_at, event_id, event_type, reason, field, detail, payload, source, request_id, key_name
    )
    SELECT received_at, event_id, event_type, reason, field, detail, payload, source, request_id, key_name
    FROM json_to_recordset(%(errors)s::json) AS r(
        received_at timestamptz, event_id text, event_type text, reason text, field text, detail text,
        payload text, source text, request_id text, key_name text
    )
    UNION ALL
    SELECT received_at, event_id, type, %(conflict_reason)s, 'event_id',
           %(conflict_message)s, payload,
           provenance, request_id, key_name
    FROM conflicting
)
SELECT ord, true AS landed FROM incoming JOIN landed USING (event_id)
UNION ALL
SELECT ord, false FROM conflicting
