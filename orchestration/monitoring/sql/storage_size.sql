-- The database's size on disk now (pg_database_size stats its files: no table is read).
SELECT statement_timestamp() AS measured_at, pg_database_size(current_database()) AS bytes
