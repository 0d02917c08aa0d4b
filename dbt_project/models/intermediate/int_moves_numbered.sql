-- Moves numbered within their game in the order they happened (ties broken by event_id, so it is stable).
select
    event_id,
    game_id,
    move_type,
    player_id,
    occurred_at,
    row_number() over (partition by game_id order by occurred_at, event_id) as move_number
from {{ ref('stg_raw__moves') }}
