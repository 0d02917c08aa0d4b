{{ config(
    materialized='incremental',
    unique_key='cohort_day',
    incremental_strategy='delete+insert',
    full_refresh=full_refresh_of_history(),
    post_hook="delete from {{ this }} where players = 0",
) }}

-- Players by the UTC day they were first seen, and those of them active again (started a game or moved) on
-- exactly day 1, 7 and 30 after it. A cohort is rebuilt only when an arrival can change it.
{%- set active_days = ref('player_active_days') %}

with
{%- if is_incremental() %}
    {%- set cutoff = arrival_cutoff('last_received_at') %}
    touched as (
        -- the player days whose events arrived since the last run (less the overlap)
        select player_id, day from {{ active_days }}
        where last_received_at >= {{ cutoff }}
    ),

    touched_players as (
        select distinct player_id from touched
    ),

    cohort_days as (
        -- activity on a day can change its own cohort (a player first seen) and those of the days 1, 7 and 30
        -- before it (a player back, or that day seen at all)
        select touched.day - back.days as cohort_day
        from touched
        cross join (values (0), (1), (7), (30)) as back (days)
        union
        -- a player now first seen earlier (a late event) leaves the cohort of the first of its older days
        select former.cohort_day
        from touched_players
        cross join
            lateral (
                select
                    min(active.day) filter (where active.last_received_at < {{ cutoff }}) as cohort_day,
                    min(active.day) as first_day
                from {{ active_days }} as active
                where active.player_id = touched_players.player_id
            ) as former
        where former.cohort_day > former.first_day
    ),

    members as (
        -- the players first seen on those days: a day at a time by the index on day, each player's first day by
        -- the primary key (the planner cannot tell how few the days are, and would scan every day)
        select active.player_id, active.day as cohort_day, active.last_received_at
        from cohort_days
        cross join
            lateral (
                select candidate.player_id, candidate.day, candidate.last_received_at
                from {{ active_days }} as candidate
                where candidate.day = cohort_days.cohort_day
                -- keeps the subquery lateral: pulled up, it becomes a hash join over every day
                offset 0  -- noqa: AM09
            ) as active
        where
            active.day = (
                select min(earliest.day) from {{ active_days }} as earliest
                where earliest.player_id = active.player_id
            )
    ),
{%- else %}
    members as (
        select distinct on (player_id) player_id, day as cohort_day, last_received_at
        from {{ active_days }}
        order by player_id, day
    ),

    cohort_days as (
        select distinct cohort_day from members
    ),
{%- endif %}

comebacks as materialized (
    -- when each member's day 1, 7 and 30 arrived, if they were active then: one primary-key lookup each (once:
    -- inlined, each lookup would run again for every aggregate that reads it)
    select
        members.cohort_day,
        members.last_received_at,
        (
            select back.last_received_at from {{ active_days }} as back
            where back.player_id = members.player_id and back.day = members.cohort_day + 1
        ) as back_on_day_1,
        (
            select back.last_received_at from {{ active_days }} as back
            where back.player_id = members.player_id and back.day = members.cohort_day + 7
        ) as back_on_day_7,
        (
            select back.last_received_at from {{ active_days }} as back
            where back.player_id = members.player_id and back.day = members.cohort_day + 30
        ) as back_on_day_30
    from members
),

cohorts as (
    select
        cohort_day,
        count(*) as players,
        count(back_on_day_1) as d1_retained,
        count(back_on_day_7) as d7_retained,
        count(back_on_day_30) as d30_retained,
        greatest(
            max(last_received_at), max(back_on_day_1), max(back_on_day_7), max(back_on_day_30)
        ) as last_received_at
    from comebacks
    group by cohort_day
),

days_seen as (
    -- whether anyone at all was seen on each cohort's day 1, 7 and 30 (the newest day seen up to it is that day,
    -- an index lookup): before that, day N is not measurable yet, which is not 0 %
    select
        cohort_day,
        (
            select max(seen.day) from {{ active_days }} as seen
            where seen.day <= cohort_days.cohort_day + 1
        ) = cohort_day + 1 as day_1_seen,
        (
            select max(seen.day) from {{ active_days }} as seen
            where seen.day <= cohort_days.cohort_day + 7
        ) = cohort_day + 7 as day_7_seen,
        (
            select max(seen.day) from {{ active_days }} as seen
            where seen.day <= cohort_days.cohort_day + 30
        ) = cohort_day + 30 as day_30_seen
    from cohort_days
),

counted as (
    select
        days_seen.cohort_day,
        coalesce(cohorts.players, 0) as players,
        case when days_seen.day_1_seen then coalesce(cohorts.d1_retained, 0) end as d1_retained,
        case when days_seen.day_7_seen then coalesce(cohorts.d7_retained, 0) end as d7_retained,
        case when days_seen.day_30_seen then coalesce(cohorts.d30_retained, 0) end as d30_retained,
        -- a cohort a late event emptied counts 0 players: its row is replaced, then deleted by the post-hook
        coalesce(cohorts.last_received_at, '-infinity') as last_received_at
    from days_seen
    left join cohorts on days_seen.cohort_day = cohorts.cohort_day
)

select
    cohort_day,
    players::integer as players,
    d1_retained::integer as d1_retained,
    d7_retained::integer as d7_retained,
    d30_retained::integer as d30_retained,
    round(d1_retained::numeric / nullif(players, 0), 4)::numeric(5, 4) as d1_rate,
    round(d7_retained::numeric / nullif(players, 0), 4)::numeric(5, 4) as d7_rate,
    round(d30_retained::numeric / nullif(players, 0), 4)::numeric(5, 4) as d30_rate,
    last_received_at
from counted
