-- Rewrites marts.players for the players in player_replacements: each player's row goes, and comes back under
-- its replacement (none when NULL), merged with a row the replacement already has (a player who came back with
-- the same session after being anonymized, and was anonymized again), as the players model would aggregate them.
-- Returns the number of the players' own rows rewritten.
WITH moved AS (
    DELETE FROM marts.players AS p
    USING player_replacements AS m
    WHERE p.player_id IN (m.identifier, m.replacement)
    RETURNING m.identifier, m.replacement, p.*
),

merged AS (
    INSERT INTO marts.players (
        player_id, session_id, is_anonymous, first_seen_at, last_seen_at, games_played, games_won, last_received_at
    )
    SELECT
        replacement, replacement, bool_or(is_anonymous), min(first_seen_at), max(last_seen_at),
        sum(games_played)::integer, sum(games_won)::integer, max(last_received_at)
    FROM moved
    WHERE replacement IS NOT NULL
    GROUP BY replacement
)

SELECT count(*) FROM moved WHERE player_id = identifier
