select
    game_id,
    game_type,
    session_id,
    player_id,
    started_at,
    ended_at,
    winner,
    duration_seconds,
    move_count,
    is_abandoned
from {{ ref('int_games_assembled') }}
