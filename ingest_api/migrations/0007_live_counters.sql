-- The real-time counters (GET /api/counters, ingest_api/counters.py): small tables in schema live that the landing
-- statement (ingest_api/sql/land_events.sql) keeps in the same transaction as the events it lands, so a counter
-- moves the moment an event commits and a duplicate never counts. Every time here is an arrival time (received_at).
-- The tallies are split by writer (shard = pg_backend_pid() % 8), so concurrent writers add to rows of their own
-- instead of queueing on one, and kept per second, minute and hour, so a window of any length is summed from few
-- rows. The landing statement deletes what no window reads any more: the tables stay small however large raw.events
-- grows.

CREATE SCHEMA live;
COMMENT ON SCHEMA live IS
    'The real-time counters'' state, kept by the landing statement with the events themselves; read by GET '
    '/api/counters. Small: rows no counter window reads any more are deleted as events land.';

-- fillfactor: the rows of the current second, minute and hour are rewritten by every statement; room on their pages
-- keeps those updates HOT
CREATE TABLE live.counts (
    span          text        NOT NULL CHECK (span IN ('second', 'minute', 'hour')),
    start         timestamptz NOT NULL,
    shard         smallint    NOT NULL,
    events        integer     NOT NULL DEFAULT 0,
    games_started integer     NOT NULL DEFAULT 0,
    games_open    integer     NOT NULL DEFAULT 0,
    sessions_seen integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (span, start, shard)
) WITH (fillfactor = 50);
COMMENT ON TABLE live.counts IS
    'Tallies per second, minute and hour of arrival (span; start: date_trunc in UTC) and writer (shard). A counter''s '
    'window sums the seconds before its first whole minute, the minutes before its first whole hour, and the hours '
    'after. A shard''s tally may be negative (a game ends, or a session moves on, through another writer); the sum '
    'over shards is not.';
COMMENT ON COLUMN live.counts.shard IS 'pg_backend_pid() % 8 of the landing connection: rows of its own.';
COMMENT ON COLUMN live.counts.events IS 'Events that landed.';
COMMENT ON COLUMN live.counts.games_started IS 'Games whose first game_start landed.';
COMMENT ON COLUMN live.counts.games_open IS 'Of the games started in this period, those whose game_end has not landed.';
COMMENT ON COLUMN live.counts.sessions_seen IS 'Sessions whose latest event arrived in this period.';

CREATE TABLE live.games (
    game_id     text        PRIMARY KEY,
    started_at  timestamptz,
    ended_at    timestamptz,
    was_started boolean     NOT NULL DEFAULT false,
    was_ended   boolean     NOT NULL DEFAULT false,
    CHECK (started_at IS NOT NULL OR ended_at IS NOT NULL)
);
COMMENT ON TABLE live.games IS
    'Games whose game_start or game_end arrived lately. In progress: started within the last 24 h (the door''s '
    'MAX_EVENT_AGE: a game silent that long is abandoned) and not ended. Unended games are kept 24 h and 1 minute '
    'after their start, ended ones 1 hour after their end (so that a game_end arriving before its game_start still '
    'keeps the game from counting).';
COMMENT ON COLUMN live.games.started_at IS 'Arrival of the first game_start that landed; null until one has.';
COMMENT ON COLUMN live.games.ended_at IS 'Arrival of the first game_end that landed; null until one has.';
COMMENT ON COLUMN live.games.was_started IS
    'Bookkeeping: whether started_at was set before this row''s latest change (read back by the landing statement).';
COMMENT ON COLUMN live.games.was_ended IS
    'Bookkeeping: whether ended_at was set before this row''s latest change (read back by the landing statement).';
CREATE INDEX games_open_idx ON live.games (started_at) WHERE ended_at IS NULL;
CREATE INDEX games_ended_idx ON live.games (ended_at) WHERE ended_at IS NOT NULL;

-- no index on last_seen_at (only the pruning, once a second, scans for it): nearly every event moves its session's
-- last_seen_at, and without one the update stays HOT, on a page with the room the fillfactor leaves
CREATE TABLE live.sessions (
    session_id         text        PRIMARY KEY,
    last_seen_at       timestamptz NOT NULL,
    previously_seen_at timestamptz
) WITH (fillfactor = 70);
COMMENT ON TABLE live.sessions IS
    'Sessions (raw.events.session_id) by the arrival of their latest event; online: seen in the last 5 minutes. '
    'Kept 6 minutes.';
COMMENT ON COLUMN live.sessions.previously_seen_at IS
    'Bookkeeping: last_seen_at before this row''s latest change (read back by the landing statement).';

-- How long a row is kept: longer than the longest counter window that reads it (ingest_api/counters.py).
CREATE FUNCTION live.kept_for(what text) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE what
        WHEN 'second' THEN interval '61 minutes'
        WHEN 'minute' THEN interval '24 hours 1 minute'
        WHEN 'hour' THEN interval '25 hours'
        WHEN 'open_games' THEN interval '24 hours 1 minute'
        WHEN 'ended_games' THEN interval '1 hour'
        WHEN 'sessions' THEN interval '6 minutes'
    END
$$;
COMMENT ON FUNCTION live.kept_for(text) IS
    'How long a row of the live tables is kept after its start: live.counts by span (second, minute, hour), '
    'live.games unended (open_games, after the start) and ended (ended_games, after the end), live.sessions (after '
    'the latest event). Longer than any counter window that reads it.';

-- At most `batch` rows a table a call, so that a backlog (traffic resuming after a quiet night) never makes a landing
-- statement slow; rows another transaction holds are skipped (the next call takes them): it never waits, so the
-- landing statement that calls it while holding its own tallies can never deadlock on it.
CREATE FUNCTION live.prune_expired(batch integer DEFAULT 500) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := statement_timestamp();
    span_ text;
BEGIN
    FOREACH span_ IN ARRAY ARRAY['second', 'minute', 'hour'] LOOP
        DELETE FROM live.counts WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM live.counts WHERE span = span_ AND start < now_ - live.kept_for(span_)
            LIMIT batch FOR UPDATE SKIP LOCKED));
    END LOOP;
    DELETE FROM live.games WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM live.games WHERE ended_at IS NULL AND started_at < now_ - live.kept_for('open_games')
        LIMIT batch FOR UPDATE SKIP LOCKED));
    DELETE FROM live.games WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM live.games WHERE ended_at < now_ - live.kept_for('ended_games')
        LIMIT batch FOR UPDATE SKIP LOCKED));
    DELETE FROM live.sessions WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM live.sessions WHERE last_seen_at < now_ - live.kept_for('sessions')
        LIMIT batch FOR UPDATE SKIP LOCKED));
END;
$$;
COMMENT ON FUNCTION live.prune_expired(integer) IS
    'Deletes up to `batch` rows a table of the live tables older than live.kept_for says, skipping rows other '
    'transactions hold. Called by the landing statement, at most once a second per writer shard and one at a time.';

-- The counters start exact: what already arrived within their windows is tallied from raw.events, with writers
-- held off meanwhile (an event landed by the previous code during the upgrade would be missed otherwise).
LOCK TABLE raw.events IN SHARE MODE;

INSERT INTO live.games (game_id, started_at, ended_at)
SELECT game_id,
       min(received_at) FILTER (WHERE type = 'game_start'),
       min(received_at) FILTER (WHERE type = 'game_end')
FROM raw.events
WHERE type IN ('game_start', 'game_end') AND game_id IS NOT NULL
  AND received_at >= statement_timestamp() - live.kept_for('open_games')
GROUP BY game_id;

INSERT INTO live.sessions (session_id, last_seen_at)
SELECT session_id, max(received_at)
FROM raw.events
WHERE session_id IS NOT NULL AND received_at >= statement_timestamp() - live.kept_for('sessions')
GROUP BY session_id;

INSERT INTO live.counts (span, start, shard, events, games_started, games_open, sessions_seen)
SELECT s.span, date_trunc(s.span, t.at, 'UTC'), 0, sum(t.events), sum(t.games_started), sum(t.games_open),
       sum(t.sessions_seen)
FROM (
    SELECT received_at AS at, 1 AS events, 0 AS games_started, 0 AS games_open, 0 AS sessions_seen
    FROM raw.events
    WHERE received_at >= statement_timestamp() - live.kept_for('hour')
    UNION ALL
    SELECT started_at, 0, 1, (ended_at IS NULL)::integer, 0 FROM live.games WHERE started_at IS NOT NULL
    UNION ALL
    SELECT last_seen_at, 0, 0, 0, 1 FROM live.sessions
) AS t
CROSS JOIN (VALUES ('second'), ('minute'), ('hour')) AS s (span)
WHERE t.at >= statement_timestamp() - live.kept_for(s.span)
GROUP BY 1, 2;
