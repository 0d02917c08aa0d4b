-- One UTC day of raw.events (or a table shaped like it) in the archive's column order and row order: occurred_at,
-- then event_id bytewise (COLLATE "C", the order the archive checks), the payload as the JSON text jsonb prints.
-- {table} and {filters} (one " AND <column> = ANY(<values>)" per filter) are composed by postgres_day.py.
-- Parameters: day_start, day_end.
SELECT
    event_id, type, contract_version, occurred_at, client_timestamp, sent_at, received_at,
    session_id, player_id, is_anonymous, game_id, source, payload::text AS payload
FROM {table}
WHERE occurred_at >= %(day_start)s AND occurred_at < %(day_end)s{filters}
ORDER BY occurred_at, event_id COLLATE "C"
