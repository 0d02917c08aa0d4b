-- append_new_columns: agent_run v2 added columns, which a table built before gains (null in older rows)
{{ config(
    materialized='incremental',
    unique_key='run_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['finished_at']}, {'columns': ['received_at']}],
) }}

select
    run_id,
    agent_name,
    files_created,
    files_modified,
    -- "completed" is the design note's word for a run that succeeded
    case status when 'completed' then 'succeeded' else status end as status,
    started_at,
    finished_at,
    -- from the two times only where they make a duration the column holds: started_at is any time a client sent
    coalesce(
        duration_seconds,
        case
            when finished_at - started_at between interval '0' and interval '1000 years'
                then extract(epoch from finished_at - started_at)
        end
    )::numeric(14, 3) as duration_seconds,
    repository,
    run_url,
    run_attempt,
    received_at
from {{ ref('stg_raw__agent_runs') }}
{% if is_incremental() %}
    where received_at >= {{ arrival_cutoff('received_at') }}
{% endif %}
