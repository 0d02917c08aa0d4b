{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert',
    full_refresh=full_refresh_of_history(),
    indexes=[{'columns': ['game_id']}, {'columns': ['occurred_at']}, {'columns': ['player_id']},
             {'columns': ['received_at']}],
) }}

-- Every move of a game that got a new one is numbered again: a late move shifts the numbers after it.
with moves as (
    {{ rows_to_rebuild(ref('stg_raw__moves'), 'game_id', 'received_at') }}
)

select
    event_id,
    game_id,
    move_type,
    -- ties (same instant) broken by event_id, so the numbering is stable from run to run
    row_number() over (partition by game_id order by occurred_at, event_id)::integer as move_number,
    session_id,
    player_id,
    is_anonymous,
    occurred_at,
    received_at
from moves
