-- Per-connection staging table that a batch is COPYed into before it is landed in one statement.
CREATE TEMP TABLE IF NOT EXISTS incoming_events (
    ord              integer     NOT NULL,
    event_id         text        NOT NULL,
    type             text        NOT NULL,
    contract_version integer     NOT NULL,
    occurred_at      timestamptz NOT NULL,
    client_timestamp timestamptz,
    sent_at          timestamptz,
    received_at      timestamptz NOT NULL,
    session_id       text,
    player_id        text,
    is_anonymous     boolean     NOT NULL,
    game_id          text,
    source           text        NOT NULL,
    payload          jsonb       NOT NULL,
    payload_hash     bytea       NOT NULL
) ON COMMIT DELETE ROWS
