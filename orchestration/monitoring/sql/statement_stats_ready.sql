-- Whether pg_stat_statements can answer here: the extension created in this database, and its library preloaded
-- (without it the view raises an error).
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS created,
       'pg_stat_statements' = ANY (
           string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) AS preloaded
