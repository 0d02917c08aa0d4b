-- Bytes per schema (tables, partitions and materialized views with their indexes and TOAST), largest first.
SELECT n.nspname AS schema_name, sum(pg_total_relation_size(c.oid))::bigint AS bytes
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
GROUP BY n.nspname
ORDER BY bytes DESC
