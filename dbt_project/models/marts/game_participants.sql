{{ config(
    materialized='incremental',
    unique_key='game_id',
    incremental_strategy='delete+insert',
    full_refresh=full_refresh_of_history(),
    indexes=[{'columns': ['game_id']}, {'columns': ['participant']}, {'columns': ['last_received_at']},
             {'columns': ['game_type', 'ended_at', 'game_id']}],
) }}

-- Who played each game: the sessions that started it or moved in it, the winner when it is a label (ai), and
-- everyone scored. A game's rows are rebuilt whole whenever one of its events arrives, from the games and moves
-- marts (so the winner, type and end are the ones marts.games holds).
with games as (
    select game_id, game_type, player_id, is_anonymous, ended_at, winner, is_abandoned, last_received_at
    from {{ ref('games') }}
    {% if is_incremental() %}where last_received_at >= {{ arrival_cutoff('last_received_at') }}{% endif %}
),

moved as (
    {%- if is_incremental() %}
        -- an index probe per changed game: joined, the planner may read every move for a handful of games
        select
            games.game_id,
            mover.player_id,
            count(*) as moves_made,
            min(mover.occurred_at) as first_move_at,
            max(mover.occurred_at) as last_move_at
        from games
        cross join
            lateral (
                select moves.player_id, moves.occurred_at from {{ ref('moves') }} as moves
                where moves.game_id = games.game_id and moves.player_id is not null and not moves.is_anonymous
                offset 0  -- noqa: AM09
            ) as mover
        group by games.game_id, mover.player_id
    {%- else %}
        select
            games.game_id,
            mover.player_id,
            count(*) as moves_made,
            min(mover.occurred_at) as first_move_at,
            max(mover.occurred_at) as last_move_at
        from games
        inner join {{ ref('moves') }} as mover
            on games.game_id = mover.game_id and mover.player_id is not null and not mover.is_anonymous
        group by games.game_id, mover.player_id
    {%- endif %}
),

scored as (
    -- the scores of the game_end marts.games took its winner from: the first to happen
    {%- if is_incremental() %}
        select games.game_id, game_end.scores
        from games
        cross join
            lateral (
                select ends.scores from {{ ref('stg_raw__game_ends') }} as ends
                where ends.game_id = games.game_id
                order by ends.occurred_at, ends.event_id
                limit 1
            ) as game_end
        where jsonb_typeof(game_end.scores) = 'object'
    {%- else %}
        select game_id, scores from (
            select distinct on (game_id) game_id, scores
            from {{ ref('stg_raw__game_ends') }}
            order by game_id, occurred_at, event_id
        ) as first_end
        where jsonb_typeof(scores) = 'object'
    {%- endif %}
),

scores as (
    select
        scored.game_id,
        score.key as participant,
        -- any JSON number the door took (3, 3.0, 1e1) is a numeric
        case when jsonb_typeof(score.value) = 'number' then (score.value #>> '{}')::numeric end as score
    from scored
    cross join lateral jsonb_each(scored.scores) as score
),

named as (
    -- anonymous players (one event each, made at the door) name no one to play against
    select game_id, player_id as participant, true as is_player from games
    where player_id is not null and not is_anonymous
    union all
    select game_id, player_id, true from moved
    union all
    select game_id, winner, false from games
    where winner is not null
    union all
    select game_id, participant, false from scores
),

participants as (
    select game_id, participant, bool_or(is_player) as is_player
    from named
    group by game_id, participant
)

select
    participants.game_id,
    games.game_type,
    participants.participant,
    participants.is_player,
    case
        when games.is_abandoned then 'abandoned'
        when games.winner is null then 'draw'
        when games.winner = participants.participant then 'win'
        else 'loss'
    end as result,
    scores.score,
    coalesce(moved.moves_made, 0)::integer as moves_made,
    moved.first_move_at,
    moved.last_move_at,
    games.ended_at,
    games.last_received_at
from participants
inner join games on participants.game_id = games.game_id
left join moved
    on participants.game_id = moved.game_id and participants.participant = moved.player_id
left join scores
    on participants.game_id = scores.game_id and participants.participant = scores.participant
