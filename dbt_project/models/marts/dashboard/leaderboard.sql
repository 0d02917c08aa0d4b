{{ config(
    materialized='materialized_view',
    on_configuration_change='apply',
    indexes=[{'columns': ['rank']}],
) }}

-- What the dashboard's leaderboard reads: players with a session, best first.
select
    rank() over (order by games_won desc, games_played asc) as rank,
    player_id,
    session_id,
    games_played,
    games_won,
    round(games_won::numeric / nullif(games_played, 0), 3) as win_rate,
    last_seen_at
from {{ ref('players') }}
where not is_anonymous and games_played > 0
