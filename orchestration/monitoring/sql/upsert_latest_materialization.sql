-- When one asset was last materialized, and by which run; an older one never replaces it.
INSERT INTO monitoring.latest_materializations AS l (asset, materialized_at, run_id)
VALUES (%(asset)s, %(materialized_at)s, %(run_id)s)
ON CONFLICT (asset) DO UPDATE
SET materialized_at = excluded.materialized_at, run_id = excluded.run_id
WHERE l.materialized_at <= excluded.materialized_at
