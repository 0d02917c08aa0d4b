{{ config(
    materialized='materialized_view',
    on_configuration_change='apply',
    indexes=[{'columns': ['rank']}],
) }}

-- What the dashboard's leaderboard reads: players with a session, best first, with their Elo rating per game type.
with ratings as (
    select
        player_id,
        jsonb_object_agg(game_type, round(rating::numeric, 1)) as ratings,
        round(max(rating)::numeric, 1) as best_rating,
        -- ties between game types go to the first by name, so the column is stable from refresh to refresh
        (array_agg(game_type order by rating desc, game_type asc))[1] as best_rating_game_type
    from {{ ref('player_ratings') }}
    group by player_id
)

select
    rank() over (order by players.games_won desc, players.games_played asc) as rank,
    players.player_id,
    players.session_id,
    players.games_played,
    players.games_won,
    round(players.games_won::numeric / nullif(players.games_played, 0), 3) as win_rate,
    players.last_seen_at,
    coalesce(ratings.ratings, '{}') as ratings,
    ratings.best_rating,
    ratings.best_rating_game_type
from {{ ref('players') }} as players
left join ratings on players.player_id = ratings.player_id
where not players.is_anonymous and players.games_played > 0
