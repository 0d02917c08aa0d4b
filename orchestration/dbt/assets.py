"""The dbt models as Dagster assets, in four selections that run on their own cadence; dbt tests become asset
checks, and a failed one stops the models downstream of it in that run. Each is built from the DbtProject's
manifest when the code location loads (once per process), never at import (no `from __future__
import annotations` here: Dagster reads the context's type from the annotation)."""

from functools import cache

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt.build import build_without_bad_rows
from orchestration.dbt.partitions import ROLLUP_DAYS, rollup_vars
from orchestration.dbt.project import SCHEDULED_BUILD, dbt_vars_args
from orchestration.dbt.resources import dbt_project
from orchestration.dbt.translator import MonkeytownTranslator
from orchestration.shared.check_records import failed_checks
from orchestration.shared.keys import mart_quality_check
from orchestration.shared.warehouse import WarehouseResource

#: The daily rollups and the dashboard's materialized views; everything else follows new data. The player marts
#: (players, the days each was active, retention cohorts, who played each game and their ratings) are a step of
#: their own so the blocking quality checks of games and moves stand between them.
ROLLUPS = "tag:rollup"
DASHBOARD_VIEWS = "tag:dashboard"
PLAYERS = "players player_active_days retention_cohorts game_participants rating_history player_ratings"
TRANSLATOR = MonkeytownTranslator()
#: What the rollups and dashboard views are built from, in other runs: they wait while one of these fails.
UPSTREAM_QUALITY_CHECKS = [mart_quality_check(mart) for mart in ("games", "moves", "players")]


def dbt_models() -> list[dg.AssetsDefinition]:
    return [core_models(), player_models(), rollup_models(), dashboard_views()]


def _dbt_assets(name: str, **selection):
    project = dbt_project()
    return dbt_assets(manifest=project.manifest_path, project=project, name=name, dagster_dbt_translator=TRANSLATOR,
                      **selection)


@cache
def core_models() -> dg.AssetsDefinition:
    @_dbt_assets("core_models", exclude=f"{ROLLUPS} {DASHBOARD_VIEWS} {PLAYERS}")
    def models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        """Staging, intermediate and the incremental entity marts (games, moves, agent runs, system events),
        picking up where their last run stopped; raw rows that break one are quarantined and the build runs
        again."""
        yield from build_without_bad_rows(context, dbt, warehouse.conninfo, [*SCHEDULED_BUILD, *dbt_vars_args()])

    return models


@cache
def player_models() -> dg.AssetsDefinition:
    @_dbt_assets("player_models", select=PLAYERS)
    def models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """players, their active days, the retention cohorts, each game's participants and the Elo ratings, from
        games and moves once their quality checks passed."""
        yield from dbt.cli([*SCHEDULED_BUILD, *dbt_vars_args()], context=context).stream()

    return models


@cache
def rollup_models() -> dg.AssetsDefinition:
    @_dbt_assets("rollup_models", select=ROLLUPS, partitions_def=ROLLUP_DAYS,
                 backfill_policy=dg.BackfillPolicy.single_run())
    def models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """The hourly and daily rollups, recomputed for the UTC days of the partition (or backfill) window."""
        refuse_on_failed_upstream_checks(context)
        window = rollup_vars(context.partition_time_window)
        yield from dbt.cli([*SCHEDULED_BUILD, *dbt_vars_args(window)], context=context).stream()

    return models


@cache
def dashboard_views() -> dg.AssetsDefinition:
    @_dbt_assets("dashboard_views", select=DASHBOARD_VIEWS)
    def models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """The materialized views the dashboard reads most; building one that exists refreshes it."""
        refuse_on_failed_upstream_checks(context)
        yield from dbt.cli([*SCHEDULED_BUILD, *dbt_vars_args()], context=context).stream()

    return models


def refuse_on_failed_upstream_checks(context: dg.AssetExecutionContext) -> None:
    failed = failed_checks(context.instance, UPSTREAM_QUALITY_CHECKS)
    if failed:
        names = ", ".join(key.to_user_string() for key in failed)
        raise dg.Failure(description=f"not built: the latest run of these blocking checks failed: {names}",
                         allow_retries=False)
