-- Rewrites marts.player_ratings for the players in player_replacements: a player's rating per game type goes, and
-- comes back under its replacement (none when NULL), where the replacement already has one (a player back with the
-- same session after being anonymized, and anonymized again) the one of the later rated game. Returns the players'
-- own rows rewritten.
WITH moved AS (
    DELETE FROM marts.player_ratings AS r
    USING player_replacements AS m
    WHERE r.player_id IN (m.identifier, m.replacement)
    RETURNING m.identifier, m.replacement, r.*
),

merged AS (
    INSERT INTO marts.player_ratings (
        player_id, game_type, is_player, rating, games_rated, is_provisional, last_rated_game, last_rated_at,
        last_received_at
    )
    SELECT DISTINCT ON (replacement, game_type)
        replacement, game_type, is_player, rating, games_rated, is_provisional, last_rated_game, last_rated_at,
        last_received_at
    FROM moved
    WHERE replacement IS NOT NULL
    ORDER BY replacement, game_type, last_rated_at DESC, last_rated_game DESC
)

SELECT count(*) FROM moved WHERE player_id = identifier
