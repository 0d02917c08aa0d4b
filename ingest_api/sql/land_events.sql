-- Lands a group of admitted events and the group's refusals in one statement (one transaction, one round trip).
-- Parameters: events, a JSON array of raw.events rows plus ord (their position) and the request's provenance;
-- errors, a JSON array of raw.ingest_errors rows; conflict_reason and conflict_message, the reason and detail
-- recorded for a conflict.
-- An event lands only if it claims its event_id in the ledger; one already stored with another payload is
-- recorded as a duplicate_conflict. Claims go in event_id order so concurrent groups sharing ids lock them in
-- the same order (no deadlock). Returns, per event that landed or conflicted, its ord and which it was.
-- The same statement tallies what landed into the live counters (migration 0007, read by ingest_api/counters.py),
-- so they commit with the events and a duplicate never counts.
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
    RETURNING event_id, type, received_at, session_id, game_id
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
), horizons AS (
    SELECT statement_timestamp() - live.kept_for('hour') AS counted_from,
           statement_timestamp() - live.kept_for('sessions') AS sessions_from,
           mod(pg_backend_pid(), 8)::smallint AS shard
), arrived AS (
    -- an arrival older than every window (old data loaded in bulk) counts nowhere
    SELECT l.* FROM landed AS l, horizons AS h WHERE l.received_at >= h.counted_from
), game_news AS (
    SELECT game_id,
           min(received_at) FILTER (WHERE type = 'game_start') AS started_at,
           min(received_at) FILTER (WHERE type = 'game_end') AS ended_at
    FROM arrived
    WHERE type IN ('game_start', 'game_end') AND game_id IS NOT NULL
    GROUP BY game_id
), games_changed AS (
    -- was_started and was_ended keep the row as it was, so the change is known exactly even when another writer
    -- changed the row after this statement's snapshot
    INSERT INTO live.games AS g (game_id, started_at, ended_at)
    SELECT game_id, started_at, ended_at FROM game_news ORDER BY game_id
    ON CONFLICT (game_id) DO UPDATE
    SET started_at = coalesce(g.started_at, excluded.started_at),
        ended_at = coalesce(g.ended_at, excluded.ended_at),
        was_started = g.started_at IS NOT NULL,
        was_ended = g.ended_at IS NOT NULL
    WHERE (g.started_at IS NULL AND excluded.started_at IS NOT NULL)
       OR (g.ended_at IS NULL AND excluded.ended_at IS NOT NULL)
    RETURNING started_at,
              (started_at IS NOT NULL AND NOT was_started)::integer AS started,
              (started_at IS NOT NULL AND ended_at IS NULL)::integer
                  - (was_started AND NOT was_ended)::integer AS opened
), sessions_changed AS (
    -- after the games (the subquery sees to it): every statement locks the live tables in one order, so writers
    -- never deadlock
    INSERT INTO live.sessions AS s (session_id, last_seen_at)
    SELECT a.session_id, max(a.received_at)
    FROM arrived AS a, horizons AS h
    WHERE a.session_id IS NOT NULL AND a.received_at >= h.sessions_from
      AND (SELECT count(*) FROM games_changed) >= 0
    GROUP BY a.session_id
    ORDER BY a.session_id
    ON CONFLICT (session_id) DO UPDATE
    SET last_seen_at = excluded.last_seen_at, previously_seen_at = s.last_seen_at
    WHERE s.last_seen_at < excluded.last_seen_at
    RETURNING last_seen_at, previously_seen_at
), tallies AS (
    SELECT date_trunc('second', received_at, 'UTC') AS at, count(*)::integer AS events, 0 AS games_started,
           0 AS games_open, 0 AS sessions_seen
    FROM arrived
    GROUP BY 1
    UNION ALL
    SELECT started_at, 0, started, opened, 0 FROM games_changed WHERE started_at IS NOT NULL
    UNION ALL
    SELECT last_seen_at, 0, 0, 0, 1 FROM sessions_changed
    UNION ALL
    SELECT previously_seen_at, 0, 0, 0, -1 FROM sessions_changed WHERE previously_seen_at IS NOT NULL
), counted AS (
    INSERT INTO live.counts AS c (span, start, shard, events, games_started, games_open, sessions_seen)
    SELECT s.span, date_trunc(s.span, t.at, 'UTC'), h.shard, sum(t.events), sum(t.games_started),
           sum(t.games_open), sum(t.sessions_seen)
    FROM tallies AS t
    CROSS JOIN horizons AS h
    CROSS JOIN (VALUES ('second'), ('minute'), ('hour')) AS s (span)
    WHERE t.at >= statement_timestamp() - live.kept_for(s.span)
    GROUP BY 1, 2, 3
    ORDER BY 1, 2
    ON CONFLICT (span, start, shard) DO UPDATE
    SET events = c.events + excluded.events, games_started = c.games_started + excluded.games_started,
        games_open = c.games_open + excluded.games_open, sessions_seen = c.sessions_seen + excluded.sessions_seen
    RETURNING span = 'second' AND xmax = 0 AS new_second
), pruning AS (
    -- the first statement of a second in its shard prunes, one at a time, after all of its own tallies
    SELECT live.prune_expired()
    FROM (SELECT bool_or(new_second) AS new_second FROM counted) AS c
    WHERE CASE WHEN c.new_second THEN pg_try_advisory_xact_lock(hashtext('live counters pruning')) ELSE false END
)
-- a CTE that only reads runs only where it is referenced: the pruning runs here, before any row is returned
SELECT ord, true AS landed FROM incoming JOIN landed USING (event_id) WHERE (SELECT count(*) FROM pruning) >= 0
UNION ALL
SELECT ord, false FROM conflicting
