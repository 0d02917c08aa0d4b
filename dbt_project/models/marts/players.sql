{{ config(
    materialized='incremental',
    unique_key='player_id',
    incremental_strategy='delete+insert',
    full_refresh=full_refresh_of_history(),
    indexes=[{'columns': ['last_received_at']}],
) }}

-- A player is a session (or an anonymous player made at the door); rebuilt whenever one of its games or moves
-- changed, so a game_end arriving later updates games_won.
with appearances as not materialized (
    select
        player_id, session_id, is_anonymous, started_at as seen_at, last_received_at, 1 as started,
        coalesce(winner = session_id, false)::integer as won
    from {{ ref('games') }}
    where player_id is not null and started_at is not null
    union all
    select player_id, session_id, is_anonymous, occurred_at, received_at, 0, 0
    from {{ ref('moves') }}
    where player_id is not null
    {% if is_incremental() %}
        union all
        -- the first sighting it had: retention drops old moves from moves, not from the player's past
        select player_id, session_id, is_anonymous, first_seen_at, last_received_at, 0, 0
        from {{ this }}
    {% endif %}
),

player_appearances as (
    {{ rows_to_rebuild('appearances', 'player_id', 'last_received_at') }}
)

select
    player_id,
    max(session_id) as session_id,
    bool_or(is_anonymous) as is_anonymous,
    min(seen_at) as first_seen_at,
    max(seen_at) as last_seen_at,
    sum(started)::integer as games_played,
    sum(won)::integer as games_won,
    max(last_received_at) as last_received_at
from player_appearances
group by player_id
