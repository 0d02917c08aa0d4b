-- The newest `limit` Dagster runs.
select
    run_id,
    job_name,
    status,
    started_at,
    ended_at,
    extract(epoch from ended_at - started_at)::float8 as duration_seconds
from monitoring.recent_runs
order by started_at desc nulls last, run_id
limit %(limit)s
