{{ config(
    materialized='incremental',
    unique_key=['player_id', 'game_type'],
    incremental_strategy='delete+insert',
    post_hook="delete from {{ this }} where last_received_at is null",
    indexes=[{'columns': ['game_type', 'rating']}, {'columns': ['last_received_at']}],
) }}

-- Each participant's Elo rating per game type: the one after their last rated game in rating_history. Rebuilt for
-- the participants whose history was replayed since the last run, and for those of changed games (whose rows a
-- replay may have removed: their row becomes 0 games rated, with no arrival, and goes in the post-hook, found by
-- the index on last_received_at).
{%- set history = ref('rating_history') %}
{%- set participants = ref('game_participants') %}

{%- if is_incremental() %}
    {%- set cutoff = arrival_cutoff('last_received_at') %}

    with pairs as (
        select player_id, game_type from {{ history }}
        where last_received_at >= {{ cutoff }}
        union
        select rated.player_id, rated.game_type
        from {{ this }} as rated
        where rated.player_id in (
            select changed.participant from {{ participants }} as changed
            where changed.last_received_at >= {{ cutoff }}
        )
    ),

    latest as (
        -- an index probe per pair for its newest row
        select pairs.player_id, pairs.game_type, newest.*
        from pairs
        left join lateral (
            select h.is_player, h.rating_after, h.games_rated, h.game_id, h.ended_at, h.last_received_at
            from {{ history }} as h
            where h.player_id = pairs.player_id and h.game_type = pairs.game_type
            order by h.ended_at desc, h.game_id desc
            limit 1
        ) as newest on true
    )
{%- else %}

    with latest as (
        select distinct on (player_id, game_type)
            player_id, game_type, is_player, rating_after, games_rated, game_id, ended_at, last_received_at
        from {{ history }}
        order by player_id asc, game_type asc, ended_at desc, game_id desc
    )
{%- endif %}

select
    player_id,
    game_type,
    coalesce(is_player, false) as is_player,
    coalesce(rating_after, {{ var('elo_start_rating') }}) as rating,
    coalesce(games_rated, 0) as games_rated,
    games_rated < {{ var('elo_provisional_games') }} as is_provisional,
    game_id as last_rated_game,
    ended_at as last_rated_at,
    last_received_at
from latest
