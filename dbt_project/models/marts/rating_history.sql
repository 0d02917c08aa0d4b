{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ elo_replay_function(ref('game_participants'), this) }}",
        "{{ rating_restarts(ref('game_participants')) }}",
        "{{ delete_ratings_to_replay() }}",
    ],
    indexes=[{'columns': ['player_id', 'game_type', 'ended_at', 'game_id']},
             {'columns': ['game_type', 'ended_at', 'game_id']}, {'columns': ['game_id']},
             {'columns': ['last_received_at']}],
) }}

-- Each rated game's Elo ratings before and after, per participant (macros/elo_ratings.sql). Incremental: each game
-- type whose games changed is replayed from the earliest of them (its later rows deleted by the pre-hooks), the
-- common case being the new games at the end; a full build replays every game type from its first game.
{%- if is_incremental() %}
    select
        replayed.game_id, replayed.game_type, replayed.player_id, replayed.is_player, replayed.result,
        replayed.ended_at, replayed.rating_before, replayed.rating_after, replayed.games_rated,
        replayed.last_received_at
    from rating_restarts
    cross join lateral intermediate.elo_replay(
        rating_restarts.game_type, rating_restarts.ended_at, rating_restarts.game_id
    ) as replayed
{%- else %}
    select
        replayed.game_id, replayed.game_type, replayed.player_id, replayed.is_player, replayed.result,
        replayed.ended_at, replayed.rating_before, replayed.rating_after, replayed.games_rated,
        replayed.last_received_at
    from (
        select distinct game_type from {{ ref('game_participants') }}
        where game_type is not null and result <> 'abandoned'
    ) as game_types
    cross join lateral intermediate.elo_replay(game_types.game_type, '-infinity', '') as replayed
{%- endif %}
