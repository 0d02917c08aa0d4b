"""The Dagster code location (workspace.yaml loads this module). It is built when Dagster loads it, from the
MONKEYTOWN_* settings, so `dagster dev -w workspace.yaml` needs no other variable; importing it reads nothing."""

import os

import dagster as dg

from monkeytown.settings import load_settings
from orchestration.dbt.assets import dbt_models
from orchestration.dbt.jobs import refresh_core_models, refresh_dashboard_views, refresh_rollups
from orchestration.dbt.resources import dbt_resource
from orchestration.dbt.schedules import hourly_dashboard_views, hourly_rollups
from orchestration.environment import code_location_database, code_location_environment
from orchestration.ingest.assets import landing_tables
from orchestration.ingest.sensors import raw_events_arrivals
from orchestration.quality.assets import MART_CHECKS, raw_events_quarantine
from orchestration.quality.replay_job import replay_refused_events_job
from orchestration.shared.warehouse import warehouse_resource


def build_definitions(database_url: str | None) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor; the warehouse at `database_url` (None: found at run time)."""
    return dg.Definitions(
        assets=[landing_tables, raw_events_quarantine, *dbt_models()],
        asset_checks=MART_CHECKS,
        jobs=[refresh_core_models, refresh_rollups, refresh_dashboard_views, replay_refused_events_job],
        schedules=[hourly_rollups, hourly_dashboard_views],
        sensors=[raw_events_arrivals],
        resources={"dbt": dbt_resource(), "warehouse": warehouse_resource(database_url)},
    )


@dg.definitions
def defs() -> dg.Definitions:
    settings = load_settings()
    database_url = code_location_database(settings)
    if database_url:
        # dbt (profiles.yml, and `dbt parse` under `dagster dev`) and GX read these, here and in what this starts
        os.environ.update(code_location_environment(database_url, settings.home))
    return build_definitions(database_url)
