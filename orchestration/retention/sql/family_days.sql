-- The family days raw.events holds of these families before a day, with their rows, by day then family.
-- Parameters: families, before.
SELECT f.family, f.day, f.row_count
FROM raw.family_days() AS f
WHERE f.family = ANY(%(families)s) AND f.day < %(before)s
ORDER BY f.day, f.family
