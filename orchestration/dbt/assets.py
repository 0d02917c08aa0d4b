"""The dbt models as Dagster assets, in three selections that run on their own cadence; dbt tests become
asset checks, and a failed one stops the models downstream of it in that run."""

import json

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt.partitions import ROLLUP_DAYS, rollup_vars
from orchestration.dbt.project import prepare_manifest
from orchestration.dbt.translator import MonkeytownTranslator
from orchestration.quality.assets import blocking_checks_failed

#: The daily rollups and the dashboard's materialized views; everything else follows new data. players is a
#: step of its own so the blocking quality checks of games and moves stand between them.
ROLLUPS = "tag:rollup"
DASHBOARD_VIEWS = "tag:dashboard"
PLAYERS = "players"
TRANSLATOR = MonkeytownTranslator()
#: What the rollups and dashboard views are built from, in other runs: they wait while one of these fails.
UPSTREAM_QUALITY_CHECKS = [dg.AssetCheckKey(dg.AssetKey(["marts", name]), f"{name}_quality")
                           for name in ("games", "moves", "players")]


@dbt_assets(manifest=prepare_manifest(), exclude=f"{ROLLUPS} {DASHBOARD_VIEWS} {PLAYERS}", name="core_models",
            dagster_dbt_translator=TRANSLATOR)
def core_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Staging, intermediate and the incremental entity marts (games, moves, agent runs, system events),
    picking up where their last run stopped."""
    yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(manifest=prepare_manifest(), select=PLAYERS, name="player_models", dagster_dbt_translator=TRANSLATOR)
def player_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """players, from games and moves once their quality checks passed."""
    yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(manifest=prepare_manifest(), select=ROLLUPS, partitions_def=ROLLUP_DAYS,
            backfill_policy=dg.BackfillPolicy.single_run(), name="rollup_models", dagster_dbt_translator=TRANSLATOR)
def rollup_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """The hourly and daily rollups, recomputed for the UTC days of the partition (or backfill) window."""
    refuse_on_failed_upstream_checks(context)
    window = rollup_vars(context.partition_time_window)
    yield from dbt.cli(["build", "--vars", json.dumps(window)], context=context).stream()


@dbt_assets(manifest=prepare_manifest(), select=DASHBOARD_VIEWS, name="dashboard_views",
            dagster_dbt_translator=TRANSLATOR)
def dashboard_views(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """The materialized views the dashboard reads most; building one that exists refreshes it."""
    refuse_on_failed_upstream_checks(context)
    yield from dbt.cli(["build"], context=context).stream()


def refuse_on_failed_upstream_checks(context: dg.AssetExecutionContext) -> None:
    failed = blocking_checks_failed(context.instance, UPSTREAM_QUALITY_CHECKS)
    if failed:
        raise dg.Failure(description=f"not built: the latest run of these blocking checks failed: {failed}",
                         allow_retries=False)
