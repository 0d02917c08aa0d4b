-- Every statement pg_stat_statements tracked in this database since its last reset: calls, mean and standard
-- deviation of the execution time (ms), and the start of its normalized text (parameters already replaced by $n).
SELECT s.calls, s.mean_exec_time, s.stddev_exec_time, left(s.query, 200) AS query
FROM pg_stat_statements AS s
WHERE s.dbid = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database()) AND s.calls > 0
