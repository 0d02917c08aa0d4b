{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=full_refresh_of_history(),
    pre_hook="{{ delete_rollup_window('day') }}",
) }}

select
    (finished_at at time zone 'UTC')::date as day,
    agent_name,
    count(*)::integer as runs,
    (count(*) filter (where status = 'succeeded'))::integer as succeeded,
    (count(*) filter (where status = 'failed'))::integer as failed,
    sum(files_created)::bigint as files_created,
    sum(files_modified)::bigint as files_modified
from {{ ref('agent_runs') }}
where {{ in_rollup_window('finished_at') }}
group by 1, 2
