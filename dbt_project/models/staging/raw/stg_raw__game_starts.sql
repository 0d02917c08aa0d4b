select
    event_id,
    game_id,
    payload ->> 'game_type' as game_type,
    session_id,
    player_id,
    is_anonymous,
    payload -> 'data' as data,
    occurred_at,
    client_timestamp,
    received_at
from {{ source('raw', 'events') }}
where type = 'game_start'
