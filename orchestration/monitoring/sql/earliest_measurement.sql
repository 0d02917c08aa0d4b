-- The oldest value of %(metric)s measured within %(lookback)s before %(now)s: what the storage growth per day is
-- measured against (the primary key's index on (metric, measured_at) finds it).
SELECT measured_at, value
FROM monitoring.measurements
WHERE metric = %(metric)s AND measured_at >= %(now)s - %(lookback)s::interval AND measured_at < %(now)s
ORDER BY measured_at
LIMIT 1
