-- The landing schema: raw events, partitioned by day of occurred_at so retention drops whole days,
-- an id ledger that makes event_id unique across every partition, and the errors table.

CREATE TABLE raw.event_ids (
    event_id     text        PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    payload_hash bytea       NOT NULL
);
COMMENT ON TABLE raw.event_ids IS
    'Every event_id ever landed: the idempotency ledger (a partitioned table cannot hold a unique key on event_id alone).';

CREATE TABLE raw.events (
    event_id         text        NOT NULL,
    type             text        NOT NULL,
    contract_version integer     NOT NULL,
    occurred_at      timestamptz NOT NULL,
    client_timestamp timestamptz,
    sent_at          timestamptz,
    received_at      timestamptz NOT NULL,
    session_id       text,
    player_id        text,
    is_anonymous     boolean     NOT NULL DEFAULT false,
    game_id          text,
    source           text        NOT NULL,
    payload          jsonb       NOT NULL,
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
COMMENT ON COLUMN raw.events.occurred_at IS 'When it happened, in UTC: the client timestamp corrected for clock skew (sent_at), or received_at.';
COMMENT ON COLUMN raw.events.client_timestamp IS 'The timestamp exactly as the client stated it, in UTC.';
COMMENT ON COLUMN raw.events.sent_at IS 'The client clock at send time, in UTC.';
COMMENT ON COLUMN raw.events.player_id IS 'The session_id, or anon-<event_id> for a missing or malformed session (a new anonymous player).';
COMMENT ON COLUMN raw.events.payload IS 'The event as received, without server-owned fields.';

CREATE INDEX events_received_at_idx ON raw.events USING brin (received_at);
CREATE INDEX events_game_id_idx ON raw.events (game_id);

CREATE TABLE raw.ingest_errors (
    error_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL,
    event_id    text,
    event_type  text,
    reason      text        NOT NULL,
    field       text,
    detail      text        NOT NULL,
    payload     text        NOT NULL,
    source      text        NOT NULL DEFAULT 'api',
    request_id  text,
    key_name    text
);
COMMENT ON TABLE raw.ingest_errors IS 'Every refused event (and every duplicate whose payload differed), with its reason.';
COMMENT ON COLUMN raw.ingest_errors.payload IS 'The event as received (its JSON text).';
CREATE INDEX ingest_errors_received_at_idx ON raw.ingest_errors (received_at);
CREATE INDEX ingest_errors_reason_idx ON raw.ingest_errors (reason, received_at);

-- Creates the day partition of raw.events holding `day` (UTC), if missing; safe under concurrency.
CREATE FUNCTION raw.ensure_events_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    partition_name text := 'events_' || to_char(day, 'YYYYMMDD');
    lower_bound timestamptz := day::timestamp AT TIME ZONE 'UTC';
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('raw.events partitions'));
    IF to_regclass(format('raw.%I', partition_name)) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE raw.%I PARTITION OF raw.events FOR VALUES FROM (%L) TO (%L)',
            partition_name, lower_bound, lower_bound + interval '1 day'
        );
    END IF;
    RETURN partition_name;
END;
$$;

SELECT raw.ensure_events_partition((now() AT TIME ZONE 'UTC')::date + offset_days)
FROM generate_series(-1, 2) AS offset_days;
