-- The rows and the order-independent checksum of one UTC day of raw.events (or a table shaped like it), the same
-- as orchestration/retention/checksum.py computes over the archived rows: the sha256 of the rows' sha256 digests,
-- sorted; a row's digest is over each column in archive order as <characters>:<text>, or - for NULL, with
-- timestamps as integer microseconds since the epoch. Change both together.
-- {table} and {filters} are composed by postgres_day.py. Parameters: day_start, day_end.
SELECT
    count(*) AS row_count,
    encode(sha256(coalesce(string_agg(digest, ''::bytea ORDER BY digest), ''::bytea)), 'hex') AS rows_checksum
FROM (
    SELECT sha256(convert_to(
        coalesce(length(event_id)::text || ':' || event_id, '-')
        || coalesce(length(type)::text || ':' || type, '-')
        || coalesce(length(contract_version::text)::text || ':' || contract_version::text, '-')
        || coalesce(length(occurred_at_us)::text || ':' || occurred_at_us, '-')
        || coalesce(length(client_timestamp_us)::text || ':' || client_timestamp_us, '-')
        || coalesce(length(sent_at_us)::text || ':' || sent_at_us, '-')
        || coalesce(length(received_at_us)::text || ':' || received_at_us, '-')
        || coalesce(length(session_id)::text || ':' || session_id, '-')
        || coalesce(length(player_id)::text || ':' || player_id, '-')
        || coalesce(length(is_anonymous::text)::text || ':' || is_anonymous::text, '-')
        || coalesce(length(game_id)::text || ':' || game_id, '-')
        || coalesce(length(source)::text || ':' || source, '-')
        || coalesce(length(payload_text)::text || ':' || payload_text, '-'),
        'UTF8')) AS digest
    FROM (
        SELECT
            event_id, type, contract_version, session_id, player_id, is_anonymous, game_id, source,
            (extract(EPOCH FROM occurred_at) * 1000000)::bigint::text AS occurred_at_us,
            (extract(EPOCH FROM client_timestamp) * 1000000)::bigint::text AS client_timestamp_us,
            (extract(EPOCH FROM sent_at) * 1000000)::bigint::text AS sent_at_us,
            (extract(EPOCH FROM received_at) * 1000000)::bigint::text AS received_at_us,
            payload::text AS payload_text
        FROM {table}
        WHERE occurred_at >= %(day_start)s AND occurred_at < %(day_end)s{filters}
    ) AS day_rows
) AS digests
