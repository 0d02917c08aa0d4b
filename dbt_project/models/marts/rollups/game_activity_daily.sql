{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_rollup_window('day') }}",
) }}

{{ game_activity('day') }}
