-- Rewrites marts.game_participants for the players in player_replacements: a player's rows take the replacement;
-- a deleted player's rows go, save where they won or were scored, which the label deleted_player takes (not a
-- player: no moves), as a rebuild from the rewritten raw.events makes them. Returns the players' rows rewritten.
WITH moved AS (
    DELETE FROM marts.game_participants AS gp
    USING player_replacements AS m
    WHERE gp.participant = m.identifier
    RETURNING m.replacement, m.winner AS replaced_as_winner, gp.*
),

kept AS (
    INSERT INTO marts.game_participants (
        game_id, game_type, participant, is_player, result, score, moves_made, first_move_at, last_move_at,
        ended_at, last_received_at
    )
    SELECT
        game_id, game_type, coalesce(replacement, replaced_as_winner), replacement IS NOT NULL AND is_player,
        result, score,
        CASE WHEN replacement IS NULL THEN 0 ELSE moves_made END,
        CASE WHEN replacement IS NOT NULL THEN first_move_at END,
        CASE WHEN replacement IS NOT NULL THEN last_move_at END,
        ended_at, last_received_at
    FROM moved
    WHERE replacement IS NOT NULL OR result = 'win' OR score IS NOT NULL
    ON CONFLICT DO NOTHING  -- two deleted players scored in one game: one deleted_player
)

SELECT count(*) FROM moved
