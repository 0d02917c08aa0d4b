-- The cohorts of players first seen in the last `days` days; a day N not measurable yet is null, not 0.
select
    cohort_day,
    players,
    d1_retained,
    d7_retained,
    d30_retained,
    round(d1_retained::numeric / nullif(players, 0), 4)::float8 as d1_rate,
    round(d7_retained::numeric / nullif(players, 0), 4)::float8 as d7_rate,
    round(d30_retained::numeric / nullif(players, 0), 4)::float8 as d30_rate
from marts.retention_cohorts
where cohort_day > current_date - %(days)s::integer
order by cohort_day
