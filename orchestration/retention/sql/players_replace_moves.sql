-- Rewrites marts.moves for the players in player_replacements: the moving session and player take the
-- replacement.
UPDATE marts.moves AS mv
SET session_id = replaced.session_id, player_id = replaced.player_id
FROM (
    SELECT
        move.event_id,
        CASE WHEN s.identifier IS NULL THEN move.session_id ELSE s.replacement END AS session_id,
        CASE WHEN p.identifier IS NULL THEN move.player_id ELSE p.replacement END AS player_id
    FROM marts.moves AS move
    LEFT JOIN player_replacements AS s ON s.identifier = move.session_id
    LEFT JOIN player_replacements AS p ON p.identifier = move.player_id
    WHERE coalesce(s.identifier, p.identifier) IS NOT NULL
) AS replaced
WHERE mv.event_id = replaced.event_id
