{{ config(
    materialized='incremental',
    unique_key='game_id',
    incremental_strategy='delete+insert',
    full_refresh=full_refresh_of_history(),
    indexes=[{'columns': ['player_id']}, {'columns': ['started_at']}, {'columns': ['ended_at']},
             {'columns': ['last_received_at']}],
) }}

-- A game is rebuilt whole from all its events whenever any of them arrives (a late move, a start after its end).
with game_events as (
    {{ rows_to_rebuild(ref('int_game_events'), 'game_id', 'received_at', 'last_received_at') }}
),

starts as (
    select distinct on (game_id) game_id, game_type, session_id, player_id, is_anonymous, occurred_at as started_at
    from game_events
    where event_type = 'game_start'
    order by game_id, occurred_at, event_id
),

ends as (
    select distinct on (game_id) game_id, occurred_at as ended_at, winner, duration_seconds
    from game_events
    where event_type = 'game_end'
    order by game_id, occurred_at, event_id
),

totals as (
    select
        game_id,
        count(*) filter (where event_type = 'move') as move_count,
        max(received_at) as last_received_at
    from game_events
    group by game_id
)

select
    totals.game_id,
    starts.game_type,
    starts.session_id,
    starts.player_id,
    coalesce(starts.is_anonymous, false) as is_anonymous,
    starts.started_at,
    ends.ended_at,
    ends.winner,
    ends.duration_seconds::numeric(14, 3) as duration_seconds,
    totals.move_count::integer as move_count,
    ends.game_id is null as is_abandoned,
    totals.last_received_at
from totals
left join starts using (game_id)
left join ends using (game_id)
