{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_rollup_window('hour', period_is_date=false) }}",
) }}

{{ game_activity('hour') }}
