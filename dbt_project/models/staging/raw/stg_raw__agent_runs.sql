select
    event_id,
    payload ->> 'run_id' as run_id,
    payload ->> 'agent_name' as agent_name,
    (payload ->> 'files_created')::numeric::integer as files_created,
    (payload ->> 'files_modified')::numeric::integer as files_modified,
    payload ->> 'status' as status,
    {{ contract_timestamp("payload -> 'started_at'") }} as started_at,
    (payload ->> 'duration_seconds')::numeric as duration_seconds,
    payload ->> 'repository' as repository,
    payload ->> 'run_url' as run_url,
    (payload ->> 'run_attempt')::numeric::integer as run_attempt,
    payload -> 'data' as data,
    occurred_at as finished_at,
    received_at
from {{ source('raw', 'events') }}
where type = 'agent_run'
