-- Where the data-quality checks keep their state: how far each suite has validated, so an incremental
-- run validates only what arrived since (orchestration/quality builds its views here from the contracts).
CREATE SCHEMA IF NOT EXISTS quality;

CREATE TABLE quality.validation_watermarks (
    name              text        PRIMARY KEY,
    validated_through timestamptz NOT NULL,
    validated_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE quality.validation_watermarks IS
    'Per suite (raw.events, marts.games, ...): rows that arrived up to validated_through passed or were quarantined.';
