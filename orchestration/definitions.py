"""The Dagster code location (workspace.yaml loads this module). It is built when Dagster loads it, from the
MONKEYTOWN_* settings, so `dagster dev -w workspace.yaml` needs no other variable; importing it reads nothing."""

import os

import dagster as dg

from monkeytown.settings import Settings, load_settings
from orchestration.dbt.assets import core_models, dashboard_views, dbt_models, player_models, rollup_models
from orchestration.dbt.docs import dbt_docs, dbt_docs_site_resource
from orchestration.dbt.docs_schedules import build_dbt_docs, daily_dbt_docs, dbt_docs_out_of_date
from orchestration.dbt.jobs import refresh_core_models, refresh_dashboard_views, refresh_rollups
from orchestration.dbt.resources import dbt_resource
from orchestration.dbt.schedules import hourly_dashboard_views, hourly_rollups
from orchestration.dbt.sensors import dashboard_follows_core_runs
from orchestration.environment import code_location_database, code_location_environment
from orchestration.ingest.assets import landing_tables
from orchestration.ingest.sensors import raw_events_arrivals
from orchestration.monitoring.assets import MONITORING_ASSETS
from orchestration.monitoring.checks import MONITORING_CHECKS
from orchestration.monitoring.freshness import mart_freshness_checks, mart_freshness_sensor, mart_keys
from orchestration.monitoring.jobs import measure_pipeline_health
from orchestration.monitoring.resources import monitoring_resource
from orchestration.monitoring.run_failure import run_failures
from orchestration.monitoring.schedules import every_five_minutes_pipeline_health
from orchestration.monitoring.sensors import mart_freshness_breaches, pipeline_status
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


def freshness_checks() -> list[dg.AssetChecksDefinition]:
    """The marts' freshness checks: the entity marts follow arrivals, the rollups and dashboard views the hour."""
    return mart_freshness_checks(mart_keys([core_models(), player_models()]),
                                 mart_keys([rollup_models(), dashboard_views()]))


def build_definitions(database_url: str | None, settings: Settings | None = None) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor; the warehouse at `database_url` (None: found at run time),
    retention as `settings` say (None: the defaults), the API's timings at the address they give (None: no API)."""
    freshness = freshness_checks()
    return dg.Definitions(
        assets=[landing_tables, raw_events_quarantine, *dbt_models(),
                raw_events_days, *guarded_assets(blocking_checks()), platform_history, dbt_docs(),
                *MONITORING_ASSETS],
        asset_checks=[*MART_CHECKS, *MONITORING_CHECKS, *freshness],
        jobs=[refresh_core_models, refresh_rollups, refresh_dashboard_views, replay_refused_events_job,
              raw_events_upkeep, archive_expired_days, player_privacy_and_housekeeping, build_dbt_docs,
              measure_pipeline_health],
        schedules=[hourly_rollups, hourly_dashboard_views,
                   daily_raw_events_upkeep, daily_archive, daily_player_privacy_and_housekeeping, daily_dbt_docs,
                   every_five_minutes_pipeline_health],
        sensors=[raw_events_arrivals, dashboard_follows_core_runs, dbt_docs_out_of_date, pipeline_status,
                 mart_freshness_sensor(freshness), mart_freshness_breaches, run_failures],
        resources={"dbt": dbt_resource(), "warehouse": warehouse_resource(database_url),
                   "retention": retention_resource(settings or load_settings({})),
                   "monitoring": monitoring_resource(settings),
                   "dbt_docs_site": dbt_docs_site_resource((settings or load_settings({})).home)},
    )


@dg.definitions
def defs() -> dg.Definitions:
    settings = load_settings()
    database_url = code_location_database(settings)
    if database_url:
        # dbt (profiles.yml, and `dbt parse` under `dagster dev`) and GX read these, here and in what this starts
        os.environ.update(code_location_environment(database_url, settings.home))
    return build_definitions(database_url, settings)
