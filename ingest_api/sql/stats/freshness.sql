-- When each asset was last materialized, and how long ago (by the database's clock).
select
    asset,
    materialized_at,
    extract(epoch from now() - materialized_at)::float8 as age_seconds,
    run_id
from monitoring.latest_materializations
order by asset
