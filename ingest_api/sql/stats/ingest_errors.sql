-- Refused events per UTC day and reason over the last `days` days, today included.
select
    day,
    reason,
    errors
from marts.ingest_errors_daily
where day > current_date - %(days)s::integer
order by day, reason
