select
    event_id,
    game_id,
    payload ->> 'move_type' as move_type,
    session_id,
    player_id,
    is_anonymous,
    payload -> 'data' as data,
    occurred_at,
    client_timestamp,
    received_at
from {{ source('raw', 'events') }}
where type = 'move'
