-- The latest result of every asset check, failures first.
select
    asset,
    check_name,
    passed,
    severity,
    description,
    evaluated_at,
    run_id
from monitoring.latest_checks
order by passed, asset, check_name
