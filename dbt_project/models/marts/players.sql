with activity as (
    select
        player_id,
        max(session_id) as session_id,
        bool_or(is_anonymous) as is_anonymous,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at
    from {{ ref('int_player_activity') }}
    group by player_id
),

games as (
    select
        player_id,
        count(*) filter (where started_at is not null) as games_played,
        count(*) filter (where winner is not null and winner = session_id) as games_won
    from {{ ref('int_games_assembled') }}
    where player_id is not null
    group by player_id
)

select
    activity.player_id,
    activity.session_id,
    activity.is_anonymous,
    activity.first_seen_at,
    activity.last_seen_at,
    coalesce(games.games_played, 0) as games_played,
    coalesce(games.games_won, 0) as games_won
from activity
left join games using (player_id)
