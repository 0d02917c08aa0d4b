-- One measurement; measuring again at the same instant (a retried step) keeps the latest value.
INSERT INTO monitoring.measurements (metric, measured_at, value)
VALUES (%(metric)s, %(measured_at)s, %(value)s)
ON CONFLICT (metric, measured_at) DO UPDATE SET value = excluded.value
