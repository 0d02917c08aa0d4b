-- One row per game seen in any event: its start, its end (none for an abandoned game) and its moves.
with starts as (
    select distinct on (game_id) game_id, game_type, session_id, player_id, occurred_at as started_at
    from {{ ref('stg_raw__game_starts') }}
    order by game_id, occurred_at, event_id
),

ends as (
    select distinct on (game_id) game_id, occurred_at as ended_at, winner, duration_seconds
    from {{ ref('stg_raw__game_ends') }}
    order by game_id, occurred_at, event_id
),

moves as (
    select game_id, count(*) as move_count
    from {{ ref('int_moves_numbered') }}
    group by game_id
),

games as (
    select game_id from starts
    union
    select game_id from ends
    union
    select game_id from moves
)

select
    games.game_id,
    starts.game_type,
    starts.session_id,
    starts.player_id,
    starts.started_at,
    ends.ended_at,
    ends.winner,
    ends.duration_seconds,
    coalesce(moves.move_count, 0) as move_count,
    ends.game_id is null as is_abandoned
from games
left join starts using (game_id)
left join ends using (game_id)
left join moves using (game_id)
