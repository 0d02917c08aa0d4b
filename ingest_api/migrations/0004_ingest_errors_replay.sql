-- Replay of refused and quarantined events (`monkeytown errors replay`, ingest_api/replay.py): what became of
-- each raw.ingest_errors row, and its latest attempt that was still refused. The original reason and detail
-- stay as they were.

ALTER TABLE raw.ingest_errors
    ADD COLUMN replayed_at        timestamptz,
    ADD COLUMN replay_outcome     text,
    ADD COLUMN last_replay_at     timestamptz,
    ADD COLUMN last_replay_reason text,
    ADD COLUMN last_replay_detail text,
    ADD CONSTRAINT ingest_errors_replay_outcome_check CHECK (replay_outcome IN ('landed', 'duplicate')),
    ADD CONSTRAINT ingest_errors_replayed_with_outcome_check CHECK ((replayed_at IS NULL) = (replay_outcome IS NULL));
COMMENT ON COLUMN raw.ingest_errors.replayed_at IS
    'When a replay landed the event of this row, or found it already stored; null while it is still refused.';
COMMENT ON COLUMN raw.ingest_errors.replay_outcome IS
    'landed (the replay stored it) or duplicate (its event_id was already stored); null until replayed.';
COMMENT ON COLUMN raw.ingest_errors.last_replay_at IS 'When the latest replay that still refused this row ran.';
COMMENT ON COLUMN raw.ingest_errors.last_replay_reason IS
    'Why the latest replay still refused it (a door reason; reason keeps the original one).';
COMMENT ON COLUMN raw.ingest_errors.last_replay_detail IS 'The message of the latest replay that still refused it.';

-- A replay (and `select reason, count(*) ... where replayed_at is null`) reads only the rows still pending.
CREATE INDEX ingest_errors_pending_idx ON raw.ingest_errors (reason, error_id) WHERE replayed_at IS NULL;
