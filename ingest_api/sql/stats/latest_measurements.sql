-- The newest value of each monitored metric: one backward primary-key lookup per metric, whatever the history.
select
    metric.name as metric,
    latest.value,
    latest.measured_at
from unnest(%(metrics)s::text []) as metric (name)
cross join lateral (
    select measurements.value, measurements.measured_at
    from monitoring.measurements
    where measurements.metric = metric.name
    order by measurements.measured_at desc
    limit 1
) as latest
order by metric.name
