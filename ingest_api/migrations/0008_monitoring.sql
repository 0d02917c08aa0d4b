-- The pipeline's own health, as the Dagster monitoring assets measure it (orchestration/monitoring), in tables the
-- API reads for the dashboard and GET /api/stats/pipeline: the API never imports Dagster, and Dagster's own storage
-- schema is not ours to read.

CREATE SCHEMA monitoring;
COMMENT ON SCHEMA monitoring IS
    'The pipeline''s health as the Dagster monitoring assets last measured and judged it; read by the dashboard.';

CREATE TABLE monitoring.measurements (
    metric      text             NOT NULL,
    measured_at timestamptz      NOT NULL,
    value       double precision NOT NULL,
    PRIMARY KEY (metric, measured_at)
);
COMMENT ON TABLE monitoring.measurements IS
    'One value of a monitored metric (events_per_second, error_rate, storage_bytes, storage_growth_bytes_per_day, '
    'query_p95_ms) at the time it was measured; pruned with the platform''s history.';

CREATE TABLE monitoring.latest_checks (
    asset        text        NOT NULL,
    check_name   text        NOT NULL,
    passed       boolean     NOT NULL,
    severity     text        NOT NULL CHECK (severity IN ('ERROR', 'WARN')),
    description  text,
    evaluated_at timestamptz NOT NULL,
    run_id       text,
    PRIMARY KEY (asset, check_name)
);
COMMENT ON TABLE monitoring.latest_checks IS
    'The latest result of every asset check (data quality and monitoring thresholds) across runs.';

CREATE TABLE monitoring.latest_materializations (
    asset           text        PRIMARY KEY,
    materialized_at timestamptz NOT NULL,
    run_id          text
);
COMMENT ON TABLE monitoring.latest_materializations IS
    'When each asset was last materialized, and by which run: the freshness of every mart.';

CREATE TABLE monitoring.recent_runs (
    run_id     text        PRIMARY KEY,
    job_name   text        NOT NULL,
    status     text        NOT NULL,
    started_at timestamptz,
    ended_at   timestamptz
);
COMMENT ON TABLE monitoring.recent_runs IS
    'The latest Dagster runs (a bounded window), newest by started_at.';
