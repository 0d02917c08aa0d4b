INSERT INTO monitoring.recent_runs (run_id, job_name, status, started_at, ended_at)
VALUES (%(run_id)s, %(job_name)s, %(status)s, %(started_at)s, %(ended_at)s)
