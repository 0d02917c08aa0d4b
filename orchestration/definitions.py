"""The Dagster code location (workspace.yaml loads this module)."""

import dagster as dg

from orchestration.dbt.assets import core_models, dashboard_views, player_models, rollup_models
from orchestration.dbt.jobs import refresh_core_models, refresh_dashboard_views, refresh_rollups
from orchestration.dbt.resources import dbt_resource
from orchestration.dbt.schedules import hourly_dashboard_views, hourly_rollups
from orchestration.ingest.assets import raw_events, raw_ingest_errors
from orchestration.ingest.sensors import raw_events_arrivals
from orchestration.ingest.warehouse import warehouse_resource
from orchestration.quality.assets import MART_CHECKS, raw_events_quarantine
from orchestration.quality.replay_job import replay_refused_events_job

defs = dg.Definitions(
    assets=[raw_events, raw_ingest_errors, raw_events_quarantine, core_models, player_models, rollup_models,
            dashboard_views],
    asset_checks=MART_CHECKS,
    jobs=[refresh_core_models, refresh_rollups, refresh_dashboard_views, replay_refused_events_job],
    schedules=[hourly_rollups, hourly_dashboard_views],
    sensors=[raw_events_arrivals],
    resources={"dbt": dbt_resource(), "warehouse": warehouse_resource()},
)
