-- The best `limit` players, by the leaderboard's own rank (ties by player id, so pages are stable).
select
    rank,
    player_id,
    session_id,
    games_played,
    games_won,
    win_rate::float8 as win_rate,
    last_seen_at,
    ratings,
    best_rating::float8 as best_rating,
    best_rating_game_type
from marts.leaderboard
order by rank, player_id
limit %(limit)s
