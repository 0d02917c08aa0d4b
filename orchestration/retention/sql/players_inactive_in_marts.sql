-- The players inactive since before a cutoff: seen last before it in marts.players, and without a game event in
-- raw.events on or after it (one the marts have not been built from yet). Never an anonymous player (the door
-- made it from an event id: it names no one), nor one whose player_id starts with skip_prefix (NULL: none).
-- Parameters: cutoff, skip_prefix.
SELECT p.player_id
FROM marts.players AS p
WHERE p.last_seen_at < %(cutoff)s
    AND NOT p.is_anonymous
    AND (%(skip_prefix)s::text IS NULL OR NOT starts_with(p.player_id, %(skip_prefix)s::text))
    AND NOT EXISTS (
        SELECT FROM raw.events AS e
        WHERE e.source = 'client' AND e.occurred_at >= %(cutoff)s AND e.player_id = p.player_id
    )
ORDER BY p.player_id
