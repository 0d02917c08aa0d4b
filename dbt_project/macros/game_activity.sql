{#- Game activity per UTC hour or day and game type: games started and finished in the period, moves made,
    players active (started a game or moved), and the mean duration of the games finished. -#}
{% macro game_activity(grain) -%}
    {%- set period = "date_trunc('hour', {ts}, 'UTC')" if grain == 'hour' else "({ts} at time zone 'UTC')::date" -%}
    {#- game events are raw.events' client family: a day retention dropped of it is never recomputed -#}
    {%- set family = 'client' -%}
    with games as (
        select game_id, coalesce(game_type, 'unknown') as game_type, player_id, started_at, ended_at, duration_seconds
        from {{ ref('games') }}
    ),

    started as (
        select {{ period.replace('{ts}', 'started_at') }} as {{ grain }}, game_type, count(*) as games_started
        from games
        where started_at is not null and {{ in_rollup_window('started_at', family) }}
        group by 1, 2
    ),

    finished as (
        select
            {{ period.replace('{ts}', 'ended_at') }} as {{ grain }},
            game_type,
            count(*) as games_finished,
            avg(duration_seconds) as avg_duration_seconds
        from games
        where ended_at is not null and {{ in_rollup_window('ended_at', family) }}
        group by 1, 2
    ),

    moves as (
        select {{ period.replace('{ts}', 'moves.occurred_at') }} as {{ grain }}, games.game_type, moves.player_id
        from {{ ref('moves') }} as moves
        left join games using (game_id)
        where {{ in_rollup_window('moves.occurred_at', family) }}
    ),

    move_counts as (
        select {{ grain }}, coalesce(game_type, 'unknown') as game_type, count(*) as moves
        from moves
        group by 1, 2
    ),

    active as (
        select {{ grain }}, game_type, count(distinct player_id) as active_players
        from (
            select {{ period.replace('{ts}', 'started_at') }} as {{ grain }}, game_type, player_id
            from games
            where started_at is not null and {{ in_rollup_window('started_at', family) }}
            union all
            select {{ grain }}, coalesce(game_type, 'unknown'), player_id from moves
        ) as appearances
        where player_id is not null
        group by 1, 2
    ),

    periods as (
        select {{ grain }}, game_type from started
        union
        select {{ grain }}, game_type from finished
        union
        select {{ grain }}, game_type from move_counts
    )

    select
        periods.{{ grain }},
        periods.game_type,
        coalesce(started.games_started, 0)::integer as games_started,
        coalesce(finished.games_finished, 0)::integer as games_finished,
        coalesce(move_counts.moves, 0)::integer as moves,
        coalesce(active.active_players, 0)::integer as active_players,
        round(finished.avg_duration_seconds, 3)::numeric(14, 3) as avg_duration_seconds
    from periods
    left join started using ({{ grain }}, game_type)
    left join finished using ({{ grain }}, game_type)
    left join move_counts using ({{ grain }}, game_type)
    left join active using ({{ grain }}, game_type)
{%- endmacro %}
