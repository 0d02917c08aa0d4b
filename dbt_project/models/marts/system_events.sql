{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert',
    indexes=[{'columns': ['occurred_at']}, {'columns': ['received_at']}],
) }}

select event_id, event_type, event_data, occurred_at, received_at
from {{ ref('stg_raw__system_events') }}
{% if is_incremental() %}
    where received_at >= {{ arrival_cutoff('received_at') }}
{% endif %}
