-- Game activity per UTC hour and game type over the last `hours` hours, the current one included.
select
    hour,
    game_type,
    games_started,
    games_finished,
    moves,
    active_players,
    avg_duration_seconds::float8 as avg_duration_seconds
from marts.game_activity_hourly
where hour >= date_trunc('hour', now()) - make_interval(hours => %(hours)s::integer - 1)
order by hour, game_type
