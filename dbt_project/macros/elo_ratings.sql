{#- Elo ratings (Arpad Elo, "The Rating of Chessplayers, Past and Present", 1978; as FIDE and most game studios
    apply it): each participant of a rated game starts at var elo_start_rating, and after the game moves by
    K * (S - E), E = 1 / (1 + 10 ^ ((R_opponent - R_self) / 400)), S = 1 for a win, 0.5 for a draw, 0 for a loss.
    A game of more than two participants counts as one game against each other participant (a loser against a
    loser is a draw), the K * (S - E) of those pairs averaged, from the ratings everyone had before the game. -#}

{#- The set-returning function that replays one game type's rated games from a point on, in the order they ended
    (ties broken by game_id), seeded with each participant's rating as of that point from rating_history: a loop
    over the games with the ratings in arrays, one pass, where a recursive CTE over every game would not finish. -#}
{% macro elo_replay_function(participants, history) -%}
    create schema if not exists intermediate;
    create or replace function intermediate.elo_replay(
        replay_game_type text, from_ended_at timestamptz, from_game_id text
    ) returns table (
        game_id text, game_type text, player_id text, is_player boolean, result text, ended_at timestamptz,
        rating_before double precision, rating_after double precision, games_rated integer,
        last_received_at timestamptz
    )
    language plpgsql
    as $elo$
    #variable_conflict use_column
    declare
        k constant double precision := {{ var('elo_k') }};
        start_rating constant double precision := {{ var('elo_start_rating') }};
        names text[];
        ratings double precision[];
        counts integer[];
        before double precision[];
        seen timestamptz := '-infinity';
        seed record;
        game record;
        n integer;
        delta double precision;
        pair_score double precision;
    begin
        -- every participant of the games to replay, numbered i as names[i] (dense_rank below numbers them alike)
        select coalesce(array_agg(p.participant order by p.participant), '{}') into names
        from (
            select distinct gp.participant from {{ participants }} as gp
            where gp.game_type = replay_game_type and gp.result <> 'abandoned'
                and (gp.ended_at, gp.game_id) >= (from_ended_at, from_game_id)
        ) as p;
        ratings := array_fill(start_rating, array[cardinality(names)]);
        counts := array_fill(0, array[cardinality(names)]);
        if from_ended_at > '-infinity' then
            -- the rating each had after their last rated game before the start point
            for seed in
                select named.i, latest.rating_after, latest.games_rated
                from unnest(names) with ordinality as named (name, i)
                cross join lateral (
                    select h.rating_after, h.games_rated from {{ history }} as h
                    where h.player_id = named.name and h.game_type = replay_game_type
                        and (h.ended_at, h.game_id) < (from_ended_at, from_game_id)
                    order by h.ended_at desc, h.game_id desc
                    limit 1
                ) as latest
            loop
                ratings[seed.i] := seed.rating_after;
                counts[seed.i] := seed.games_rated;
            end loop;
            select coalesce(max(h.last_received_at), '-infinity') into seen from (
                select h.last_received_at from {{ history }} as h
                where h.game_type = replay_game_type and (h.ended_at, h.game_id) < (from_ended_at, from_game_id)
                order by h.ended_at desc, h.game_id desc
                limit 1
            ) as h;
        end if;
        for game in
            select
                numbered.game_id, numbered.ended_at, max(numbered.last_received_at) as last_received_at,
                array_agg(numbered.i order by numbered.participant) as players,
                array_agg(numbered.result order by numbered.participant) as results,
                array_agg(numbered.is_player order by numbered.participant) as is_players
            from (
                select gp.*, dense_rank() over (order by gp.participant)::integer as i
                from {{ participants }} as gp
                where gp.game_type = replay_game_type and gp.result <> 'abandoned'
                    and (gp.ended_at, gp.game_id) >= (from_ended_at, from_game_id)
            ) as numbered
            group by numbered.game_id, numbered.ended_at
            having count(*) >= 2  -- a game with no one to play against rates no one
            order by numbered.ended_at, numbered.game_id
        loop
            n := cardinality(game.players);
            before := array[]::double precision[];
            for a in 1..n loop
                before := before || ratings[game.players[a]];
            end loop;
            -- the rows carry the newest arrival of the game type up to here: where the next runs pick up
            seen := greatest(seen, game.last_received_at);
            for a in 1..n loop
                delta := 0;
                for b in 1..n loop
                    continue when a = b;
                    pair_score := case
                        when game.results[a] = game.results[b] then 0.5
                        when game.results[a] = 'win' then 1
                        else 0
                    end;
                    delta := delta + pair_score - 1 / (1 + 10 ^ ((before[b] - before[a]) / 400));
                end loop;
                ratings[game.players[a]] := before[a] + k * delta / (n - 1);
                counts[game.players[a]] := counts[game.players[a]] + 1;
                game_id := game.game_id;
                game_type := replay_game_type;
                player_id := names[game.players[a]];
                is_player := game.is_players[a];
                result := game.results[a];
                ended_at := game.ended_at;
                rating_before := before[a];
                rating_after := ratings[game.players[a]];
                games_rated := counts[game.players[a]];
                last_received_at := seen;
                return next;
            end loop;
        end loop;
    end;
    $elo$
{%- endmacro %}

{#- A pre-hook of rating_history: where each game type's ratings must be replayed from, in the temporary table
    rating_restarts (dropped at commit). A game whose participants, result or end changed (it arrived since the last
    run, less the overlap) changes every later rating of its type: the earliest of those games per type, at its new
    place in the order and at the place it had. Nothing on a full build: every type is replayed from its start. -#}
{% macro rating_restarts(participants) -%}
    {%- if is_incremental() -%}
    create temporary table rating_restarts on commit drop as
    with changed as (
        select distinct game_id from {{ participants }}
        where last_received_at >= {{ arrival_cutoff('last_received_at') }}
    ),

    places as (
        select gp.game_type, gp.ended_at, gp.game_id
        from changed
        inner join {{ participants }} as gp on changed.game_id = gp.game_id
        where gp.game_type is not null and gp.ended_at is not null
        union all
        select h.game_type, h.ended_at, h.game_id
        from changed
        inner join {{ this }} as h on changed.game_id = h.game_id
    )

    select distinct on (game_type) game_type, ended_at, game_id
    from places
    order by game_type, ended_at, game_id;
    analyze rating_restarts
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- The next pre-hook: the rows from each restart on go (the replay inserts them again). -#}
{% macro delete_ratings_to_replay() -%}
    {%- if is_incremental() -%}
    -- a statement per game type with its start as values: joined, the planner guesses a third of the table
    do $restarts$
    declare
        restart record;
    begin
        for restart in select * from rating_restarts loop
            delete from {{ this }} as h
            where h.game_type = restart.game_type
                and (h.ended_at, h.game_id) >= (restart.ended_at, restart.game_id);
        end loop;
    end;
    $restarts$
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
