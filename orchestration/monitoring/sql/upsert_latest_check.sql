-- The latest result of one asset check; an older result than the one stored never replaces it.
INSERT INTO monitoring.latest_checks AS l (asset, check_name, passed, severity, description, evaluated_at, run_id)
VALUES (%(asset)s, %(check_name)s, %(passed)s, %(severity)s, %(description)s, %(evaluated_at)s, %(run_id)s)
ON CONFLICT (asset, check_name) DO UPDATE
SET passed = excluded.passed, severity = excluded.severity, description = excluded.description,
    evaluated_at = excluded.evaluated_at, run_id = excluded.run_id
WHERE l.evaluated_at <= excluded.evaluated_at
