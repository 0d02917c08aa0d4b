select
    error_id,
    received_at,
    event_id,
    event_type,
    reason,
    field,
    detail,
    source
from {{ source('raw', 'ingest_errors') }}
