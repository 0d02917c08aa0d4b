-- Rewrites the game events of the players in player_replacements (identifier -> replacement, winner): a start
-- or a move of the player takes the replacement as its session_id and player_id and in its payload (NULL: both
-- columns NULL and the payload's session_id null, which its contract allows); a game_end whose winner is the player's session takes
-- the winner replacement. One pass over the game events (the family client): the join key is the player of a
-- start or a move, the winner of an end.
UPDATE raw.events AS e
SET
    session_id = CASE WHEN e.type = 'game_end' THEN e.session_id ELSE m.replacement END,
    player_id = CASE WHEN e.type = 'game_end' THEN e.player_id ELSE m.replacement END,
    payload = CASE
        WHEN e.type = 'game_end' THEN jsonb_set(e.payload, '{winner}', to_jsonb(m.winner))
        WHEN m.replacement IS NULL AND e.payload ? 'session_id' THEN jsonb_set(e.payload, '{session_id}', 'null')
        WHEN m.replacement IS NULL THEN e.payload
        ELSE jsonb_set(e.payload, '{session_id}', to_jsonb(m.replacement))
    END
FROM player_replacements AS m
WHERE e.source = 'client'
    AND m.identifier = CASE WHEN e.type = 'game_end' THEN e.payload ->> 'winner' ELSE e.player_id END
