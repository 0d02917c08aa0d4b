-- dbt's data tests read, in an incremental `dbt build`, only the rows that changed since they last passed, as the
-- quality suites do (dbt_project/macros/test_scope.sql). Their watermarks go in quality.validation_watermarks,
-- named 'dbt test <unique id>'; this table holds how far raw.events reached when each build began, until it ends.
CREATE TABLE quality.dbt_build_starts (
    invocation_id    text        PRIMARY KEY,
    arrivals_through timestamptz NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE quality.dbt_build_starts IS
    'Per dbt build or test invocation: the newest raw.events arrival when it began; a passing test''s watermark moves there.';
