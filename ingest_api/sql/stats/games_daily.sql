-- Game activity per UTC day and game type over the last `days` days, today included.
select
    day,
    game_type,
    games_started,
    games_finished,
    moves,
    active_players,
    avg_duration_seconds::float8 as avg_duration_seconds
from marts.game_activity_daily
where day > current_date - %(days)s::integer
order by day, game_type
