"""The dbt models as Dagster assets, in three selections that run on their own cadence; dbt tests become
asset checks, and a failed one stops the models downstream of it in that run."""

import json

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt.partitions import ROLLUP_DAYS, rollup_vars
from orchestration.dbt.project import prepare_manifest

#: The daily rollups and the dashboard's materialized views; everything else follows new data.
ROLLUPS = "tag:rollup"
DASHBOARD_VIEWS = "tag:dashboard"


@dbt_assets(manifest=prepare_manifest(), exclude=f"{ROLLUPS} {DASHBOARD_VIEWS}", name="core_models")
def core_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Staging, intermediate and the incremental entity marts (games, moves, players, agent runs, system
    events), picking up where their last run stopped."""
    yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(manifest=prepare_manifest(), select=ROLLUPS, partitions_def=ROLLUP_DAYS,
            backfill_policy=dg.BackfillPolicy.single_run(), name="rollup_models")
def rollup_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """The hourly and daily rollups, recomputed for the UTC days of the partition (or backfill) window."""
    window = rollup_vars(context.partition_time_window)
    yield from dbt.cli(["build", "--vars", json.dumps(window)], context=context).stream()


@dbt_assets(manifest=prepare_manifest(), select=DASHBOARD_VIEWS, name="dashboard_views")
def dashboard_views(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """The materialized views the dashboard reads most; building one that exists refreshes it."""
    yield from dbt.cli(["build"], context=context).stream()
