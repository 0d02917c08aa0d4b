{{ config(
    materialized='incremental',
    unique_key='player_id',
    incremental_strategy='delete+insert',
    indexes=[{'columns': ['last_received_at']}],
) }}

-- A player is a session (or an anonymous player made at the door); rebuilt whenever one of its games or moves
-- changed, so a game_end arriving later updates games_won.
with appearances as not materialized (
    select player_id, session_id, is_anonymous, started_at as seen_at, last_received_at, 1 as started,
           coalesce(winner = session_id, false)::integer as won
    from {{ ref('games') }}
    where player_id is not null and started_at is not null
    union all
    select player_id, session_id, is_anonymous, occurred_at, received_at, 0, 0
    from {{ ref('moves') }}
    where player_id is not null
),

{% if is_incremental() %}
changed_players as (
    select distinct player_id from appearances where last_received_at >= {{ arrival_cutoff('last_received_at') }}
),

player_appearances as (
    select seen.*
    from changed_players
    cross join lateral (  -- one index lookup per changed player, as games does per game
        select * from appearances where appearances.player_id = changed_players.player_id
        offset 0
    ) as seen
)
{% else %}
player_appearances as (
    select * from appearances
)
{% endif %}

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
