{{ config(
    materialized='materialized_view',
    on_configuration_change='apply',
    indexes=[{'columns': ['game_type'], 'unique': true}],
) }}

-- One row per game type: how much it is played, finished, abandoned and how long a game lasts.
select
    coalesce(game_type, 'unknown') as game_type,
    count(*) filter (where started_at is not null) as games_started,
    count(*) filter (where ended_at is not null) as games_finished,
    count(*) filter (where is_abandoned) as games_abandoned,
    count(distinct player_id) as players,
    round(avg(duration_seconds), 3) as avg_duration_seconds,
    round(avg(move_count) filter (where ended_at is not null), 2) as avg_moves_per_finished_game,
    max(started_at) as last_started_at
from {{ ref('games') }}
group by 1
