-- The window of recent runs is replaced as a whole, in the transaction that inserts the new one.
DELETE FROM monitoring.recent_runs
