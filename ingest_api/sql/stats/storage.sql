-- The database's size per UTC hour over the last `days` days (the hour's largest measurement).
select
    date_trunc('hour', measured_at) as hour,
    max(value)::float8 as storage_bytes
from monitoring.measurements
where metric = 'storage_bytes' and measured_at >= now() - make_interval(days => %(days)s::integer)
group by 1
order by 1
