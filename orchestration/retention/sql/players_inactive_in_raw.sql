-- players_inactive_in_marts.sql where marts.players does not exist yet (dbt never ran): the players of the game
-- events raw.events holds whose newest one occurred before the cutoff. Parameters: cutoff, skip_prefix.
SELECT e.player_id
FROM raw.events AS e
WHERE e.source = 'client'
    AND e.player_id IS NOT NULL
    AND NOT e.is_anonymous
    AND (%(skip_prefix)s::text IS NULL OR NOT starts_with(e.player_id, %(skip_prefix)s::text))
GROUP BY e.player_id
HAVING max(e.occurred_at) < %(cutoff)s
ORDER BY e.player_id
