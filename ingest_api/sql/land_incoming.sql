-- Claims each staged event_id in the ledger, lands the claimed ones, and reports per staged row
-- whether it landed or, if it was already stored, whether its payload differed (a conflict).
-- Claims go in event_id order so concurrent batches sharing ids lock them in the same order (no deadlock).
WITH claimed AS (
    INSERT INTO raw.event_ids (event_id, occurred_at, received_at, payload_hash)
    SELECT event_id, occurred_at, received_at, payload_hash FROM incoming_events ORDER BY event_id
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), landed AS (
    INSERT INTO raw.events (
        event_id, type, contract_version, occurred_at, client_timestamp, sent_at, received_at,
        session_id, player_id, is_anonymous, game_id, source, payload
    )
    SELECT i.event_id, i.type, i.contract_version, i.occurred_at, i.client_timestamp, i.sent_at, i.received_at,
           i.session_id, i.player_id, i.is_anonymous, i.game_id, i.source, i.payload
    FROM incoming_events AS i
    JOIN claimed AS c USING (event_id)
    RETURNING event_id
)
SELECT i.ord, l.event_id IS NOT NULL AS landed
FROM incoming_events AS i
LEFT JOIN landed AS l USING (event_id)
WHERE l.event_id IS NOT NULL
   OR EXISTS (
       SELECT 1 FROM raw.event_ids AS e
       WHERE e.event_id = i.event_id AND e.payload_hash <> i.payload_hash
   )
