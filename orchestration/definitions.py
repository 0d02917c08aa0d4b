"""The Dagster code location (workspace.yaml loads this module). It is built when Dagster loads it, from the
MONKEYTOWN_* settings, so `dagster dev -w workspace.yaml` needs no other variable; importing it reads nothing."""

import os

import dagster as dg

from monkeytown.settings import Settings, load_settings
from orchestration.dbt.assets import dbt_models
from orchestration.dbt.jobs import refresh_core_models, refresh_dashboard_views, refresh_rollups
from orchestration.dbt.resources import dbt_resource
from orchestration.dbt.schedules import hourly_dashboard_views, hourly_rollups
from orchestration.environment import code_location_database, code_location_environment
from orchestration.ingest.assets import landing_tables
from orchestration.ingest.sensors import raw_events_arrivals
from orchestration.quality.assets import MART_CHECKS, raw_events_quarantine
from orchestration.quality.replay_job import replay_refused_events_job
from orchestration.retention.assets import guarded_assets, platform_history, raw_events_days
from orchestration.retention.jobs import archive_expired_days, player_privacy_and_housekeeping, raw_events_upkeep
from orchestration.retention.resources import retention_resource
from orchestration.retention.safety import blocking_check_keys
from orchestration.retention.schedules import (
    daily_archive,
    daily_player_privacy_and_housekeeping,
    daily_raw_events_upkeep,
)
from orchestration.shared.warehouse import warehouse_resource


def blocking_checks() -> list[dg.AssetCheckKey]:
    """The blocking checks of the code location: while the latest run of one failed, retention does not run."""
    return blocking_check_keys([landing_tables, raw_events_quarantine, *dbt_models(), *MART_CHECKS])


def build_definitions(database_url: str | None, settings: Settings | None = None) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor; the warehouse at `database_url` (None: found at run time),
    retention as `settings` say (None: the defaults)."""
    return dg.Definitions(
        assets=[landing_tables, raw_events_quarantine, *dbt_models(),
                raw_events_days, *guarded_assets(blocking_checks()), platform_history],
        asset_checks=MART_CHECKS,
        jobs=[refresh_core_models, refresh_rollups, refresh_dashboard_views, replay_refused_events_job,
              raw_events_upkeep, archive_expired_days, player_privacy_and_housekeeping],
        schedules=[hourly_rollups, hourly_dashboard_views,
                   daily_raw_events_upkeep, daily_archive, daily_player_privacy_and_housekeeping],
        sensors=[raw_events_arrivals],
        resources={"dbt": dbt_resource(), "warehouse": warehouse_resource(database_url),
                   "retention": retention_resource(settings or load_settings({}))},
    )


@dg.definitions
def defs() -> dg.Definitions:
    settings = load_settings()
    database_url = code_location_database(settings)
    if database_url:
        # dbt (profiles.yml, and `dbt parse` under `dagster dev`) and GX read these, here and in what this starts
        os.environ.update(code_location_environment(database_url, settings.home))
    return build_definitions(database_url, settings)
