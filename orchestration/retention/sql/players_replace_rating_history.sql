-- Rewrites marts.rating_history for the players in player_replacements: a player's ratings take the replacement;
-- a deleted player's go (the ratings of those they played keep what they were until their game type is replayed).
WITH deleted AS (
    DELETE FROM marts.rating_history AS h
    USING player_replacements AS m
    WHERE h.player_id = m.identifier AND m.replacement IS NULL
    RETURNING h.game_id
),

renamed AS (
    UPDATE marts.rating_history AS h
    SET player_id = m.replacement
    FROM player_replacements AS m
    WHERE h.player_id = m.identifier AND m.replacement IS NOT NULL
    RETURNING h.game_id
)

SELECT (SELECT count(*) FROM deleted) + (SELECT count(*) FROM renamed)
