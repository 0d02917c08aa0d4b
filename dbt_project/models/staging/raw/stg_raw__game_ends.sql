select
    event_id,
    game_id,
    (payload ->> 'duration')::numeric as duration_seconds,
    payload ->> 'winner' as winner,
    payload -> 'scores' as scores,
    payload -> 'data' as data,
    occurred_at,
    client_timestamp,
    received_at
from {{ source('raw', 'events') }}
where type = 'game_end'
