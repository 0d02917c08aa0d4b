{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=full_refresh_of_history(),
    pre_hook="{{ delete_rollup_window('day') }}",
) }}

select
    (received_at at time zone 'UTC')::date as day,
    reason,
    count(*)::integer as errors
from {{ ref('stg_raw__ingest_errors') }}
where {{ in_rollup_window('received_at') }}
group by 1, 2
