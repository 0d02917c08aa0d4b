{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=full_refresh_of_history(),
    pre_hook=["{{ hold_off_family_day_drops() }}", "{{ delete_rollup_window('day', family='client') }}"],
) }}

{{ game_activity('day') }}
