-- Rewrites marts.games for the players in player_replacements: the session and player that started a game take
-- the replacement, a winner that was one of them the winner replacement.
UPDATE marts.games AS g
SET session_id = replaced.session_id, player_id = replaced.player_id, winner = replaced.winner
FROM (
    SELECT
        game.game_id,
        CASE WHEN s.identifier IS NULL THEN game.session_id ELSE s.replacement END AS session_id,
        CASE WHEN p.identifier IS NULL THEN game.player_id ELSE p.replacement END AS player_id,
        coalesce(w.winner, game.winner) AS winner
    FROM marts.games AS game
    LEFT JOIN player_replacements AS s ON s.identifier = game.session_id
    LEFT JOIN player_replacements AS p ON p.identifier = game.player_id
    LEFT JOIN player_replacements AS w ON w.identifier = game.winner
    WHERE coalesce(s.identifier, p.identifier, w.identifier) IS NOT NULL
) AS replaced
WHERE g.game_id = replaced.game_id
