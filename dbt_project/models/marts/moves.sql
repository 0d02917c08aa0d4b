select
    event_id,
    game_id,
    move_type,
    move_number,
    player_id,
    occurred_at
from {{ ref('int_moves_numbered') }}
