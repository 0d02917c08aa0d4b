select
    event_id,
    type as event_type,
    payload -> 'event_data' as event_data,
    occurred_at,
    received_at
from {{ source('raw', 'events') }}
where source = 'server'
