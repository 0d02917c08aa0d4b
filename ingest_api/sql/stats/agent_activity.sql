-- Agent runs per UTC day and agent over the last `days` days, today included.
select
    day,
    agent_name,
    runs,
    succeeded,
    failed,
    files_created,
    files_modified
from marts.agent_activity_daily
where day > current_date - %(days)s::integer
order by day, agent_name
