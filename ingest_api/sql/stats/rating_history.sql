-- The Elo rating after each of the last %(games)s rated games of each (player, game type) asked for, oldest first.
select
    wanted.player_id,
    wanted.game_type,
    recent.games_rated,
    recent.rating
from unnest(%(players)s::text [], %(game_types)s::text []) as wanted (player_id, game_type)
cross join lateral (
    select
        h.games_rated,
        h.rating_after::float8 as rating
    from marts.rating_history as h
    where h.player_id = wanted.player_id and h.game_type = wanted.game_type
    order by h.ended_at desc, h.game_id desc
    limit %(games)s
) as recent
order by wanted.player_id, recent.games_rated
