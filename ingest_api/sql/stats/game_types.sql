-- One row per game type, over every game the marts hold.
select
    game_type,
    games_started,
    games_finished,
    games_abandoned,
    players,
    avg_duration_seconds::float8 as avg_duration_seconds,
    avg_moves_per_finished_game::float8 as avg_moves_per_finished_game
from marts.game_type_overview
order by games_started desc, game_type
