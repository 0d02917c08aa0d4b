-- The tables and materialized views of schema marts with a column that can hold a player's identifier, with
-- those columns. Parameters: columns.
SELECT c.relname, c.relkind::text, array_agg(a.attname::text ORDER BY a.attnum)
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
INNER JOIN pg_attribute AS a ON c.oid = a.attrelid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'marts' AND c.relkind IN ('r', 'p', 'm') AND a.attname = ANY(%(columns)s)
GROUP BY c.relname, c.relkind
ORDER BY c.relname
