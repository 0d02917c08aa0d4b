{{ config(
    materialized='incremental',
    unique_key='player_id',
    incremental_strategy='delete+insert',
    indexes=[{'columns': ['last_received_at']}],
) }}

-- A player is a session (or an anonymous player made at the door); rebuilt whenever one of its games or moves
-- changed, so a game_end arriving later updates games_won.
with appearances as not materialized (
    select player_id, session_id, is_anonymous, started_at as seen_at, last_received_at
    from {{ ref('games') }}
    where player_id is not null and started_at is not null
    union all
    select player_id, session_id, is_anonymous, occurred_at, received_at
    from {{ ref('moves') }}
    where player_id is not null
),

{% if is_incremental() %}
changed_players as (
    select distinct player_id from appearances where last_received_at >= {{ arrival_cutoff('last_received_at') }}
),
{% endif %}

activity as (
    select
        player_id,
        max(session_id) as session_id,
        bool_or(is_anonymous) as is_anonymous,
        min(seen_at) as first_seen_at,
        max(seen_at) as last_seen_at,
        max(last_received_at) as last_received_at
    from appearances
    {% if is_incremental() %}
    where player_id in (select player_id from changed_players)
    {% endif %}
    group by player_id
),

games as (
    select
        player_id,
        count(*) as games_played,
        count(*) filter (where winner is not null and winner = session_id) as games_won,
        max(last_received_at) as last_received_at
    from {{ ref('games') }}
    where started_at is not null
    {% if is_incremental() %}
    and player_id in (select player_id from changed_players)
    {% endif %}
    group by player_id
)

select
    activity.player_id,
    activity.session_id,
    activity.is_anonymous,
    activity.first_seen_at,
    activity.last_seen_at,
    coalesce(games.games_played, 0)::integer as games_played,
    coalesce(games.games_won, 0)::integer as games_won,
    greatest(activity.last_received_at, games.last_received_at) as last_received_at
from activity
left join games using (player_id)
