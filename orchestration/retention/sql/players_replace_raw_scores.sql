-- Rewrites the scores of the game ends that score a player in player_replacements: the player's key takes the winner
-- replacement (the pseudonym, or the label deleted_player), as a winner does. Run before
-- players_replace_raw_events.sql; returns the rows rewritten that it will not rewrite again (their winner is not one
-- of the players), so the two counts add up to the rows changed.
WITH rewritten AS (
    UPDATE raw.events AS e
    SET payload = jsonb_set(e.payload, '{scores}', (
        SELECT jsonb_object_agg(coalesce(m.winner, score.key), score.value)
        FROM jsonb_each(e.payload -> 'scores') AS score
        LEFT JOIN player_replacements AS m ON score.key = m.identifier
    ))
    WHERE e.source = 'client'
        AND e.type = 'game_end'
        AND jsonb_typeof(e.payload -> 'scores') = 'object'
        AND EXISTS (
            SELECT FROM player_replacements AS m
            WHERE e.payload -> 'scores' ? m.identifier
        )
    RETURNING e.payload ->> 'winner' AS winner
)

SELECT count(*) FROM rewritten
WHERE winner IS NULL OR winner NOT IN (SELECT identifier FROM player_replacements)
