"""The jobs the sensor and schedules launch, one per dbt selection, named by layer so that they are defined
before the dbt project's manifest is read."""

import dagster as dg

from orchestration.shared.catalog import DASHBOARD, INTERMEDIATE, MARTS, ROLLUPS, STAGING
from orchestration.shared.keys import (
    BACKGROUND,
    FOLLOWS_NEW_DATA,
    MARTS_WRITER,
    RAW_EVENTS_QUARANTINE,
    REFRESH_CORE_MODELS,
    RETRIED,
)

#: One process per run, not per step: each step process would import Dagster, dbt's adapter and GX again
#: (3-6 s each), and two cores gain nothing from running dbt steps side by side.
EXECUTOR = dg.in_process_executor

refresh_core_models = dg.define_asset_job(
    REFRESH_CORE_MODELS,
    selection=dg.AssetSelection.assets(RAW_EVENTS_QUARANTINE) | dg.AssetSelection.groups(STAGING, INTERMEDIATE, MARTS),
    description="The contract check and quarantine of what landed, then staging, intermediate and the incremental"
                " entity marts, each with its quality checks: what the sensor runs on new data.",
    tags=RETRIED | MARTS_WRITER | FOLLOWS_NEW_DATA, executor_def=EXECUTOR,
)

refresh_rollups = dg.define_asset_job(
    "refresh_rollups", selection=dg.AssetSelection.groups(ROLLUPS),
    description="The hourly and daily rollups for one UTC day (or a backfill's range of days).",
    tags=RETRIED | BACKGROUND, executor_def=EXECUTOR,
)

refresh_dashboard_views = dg.define_asset_job(
    "refresh_dashboard_views", selection=dg.AssetSelection.groups(DASHBOARD),
    description="Refreshes the dashboard's materialized views.",
    tags=RETRIED | BACKGROUND, executor_def=EXECUTOR,
)
