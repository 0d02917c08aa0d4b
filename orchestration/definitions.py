"""The Dagster code location (workspace.yaml loads this module)."""

import dagster as dg

from orchestration.dbt.assets import core_models, dashboard_views, rollup_models
from orchestration.dbt.jobs import refresh_core_models, refresh_dashboard_views, refresh_rollups
from orchestration.dbt.resources import dbt_resource
from orchestration.dbt.schedules import hourly_dashboard_views, hourly_rollups
from orchestration.ingest.assets import raw_events, raw_ingest_errors
from orchestration.ingest.sensors import raw_events_arrivals
from orchestration.ingest.warehouse import warehouse_resource

defs = dg.Definitions(
    assets=[raw_events, raw_ingest_errors, core_models, rollup_models, dashboard_views],
    jobs=[refresh_core_models, refresh_rollups, refresh_dashboard_views],
    schedules=[hourly_rollups, hourly_dashboard_views],
    sensors=[raw_events_arrivals],
    resources={"dbt": dbt_resource(), "warehouse": warehouse_resource()},
)
