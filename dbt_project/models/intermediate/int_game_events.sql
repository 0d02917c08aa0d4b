-- Every game event (start, move, end) in one shape: what a game, its moves and its players are built from.
select
    event_id, 'game_start' as event_type, game_id, game_type, session_id, player_id, is_anonymous,
    null::text as move_type, null::text as winner, null::numeric as duration_seconds, occurred_at, received_at
from {{ ref('stg_raw__game_starts') }}
union all
select
    event_id, 'move', game_id, null, session_id, player_id, is_anonymous,
    move_type, null, null, occurred_at, received_at
from {{ ref('stg_raw__moves') }}
union all
select
    event_id, 'game_end', game_id, null, null, null, false,
    null, winner, duration_seconds, occurred_at, received_at
from {{ ref('stg_raw__game_ends') }}
