-- The database's clock: every measurement is timed by it.
SELECT statement_timestamp()
