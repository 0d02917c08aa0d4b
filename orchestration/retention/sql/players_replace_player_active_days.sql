-- Rewrites marts.player_active_days for the players in player_replacements: each player's days go, and come back
-- under its replacement (none when NULL: a deleted player's days are gone), merged with the days the replacement
-- already has (a player who came back with the same session after being anonymized, and was anonymized again).
-- Returns the number of the players' own rows rewritten.
WITH moved AS (
    DELETE FROM marts.player_active_days AS a
    USING player_replacements AS m
    WHERE a.player_id IN (m.identifier, m.replacement)
    RETURNING m.identifier, m.replacement, a.*
),

merged AS (
    INSERT INTO marts.player_active_days (player_id, day, last_received_at)
    SELECT replacement, day, max(last_received_at)
    FROM moved
    WHERE replacement IS NOT NULL
    GROUP BY replacement, day
)

SELECT count(*) FROM moved WHERE player_id = identifier
