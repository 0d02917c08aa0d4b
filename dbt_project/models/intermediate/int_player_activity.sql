-- Every event that names a player: a well-formed session is the player, a missing or malformed one made a
-- new anonymous player (player_id anon-<event_id>) at the door.
select player_id, session_id, is_anonymous, occurred_at
from {{ ref('stg_raw__game_starts') }}
where player_id is not null
union all
select player_id, session_id, is_anonymous, occurred_at
from {{ ref('stg_raw__moves') }}
where player_id is not null
