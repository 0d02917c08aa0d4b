"""The pipeline's status as the dashboard reads it: Dagster's latest result of every asset check, each asset's
latest materialization and the latest runs, copied from the instance into the monitoring tables (migration 0008),
since the API never imports Dagster and Dagster's storage is not ours to read."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources

import dagster as dg
import psycopg

from orchestration.shared.check_records import latest_check_executions

#: How many runs monitoring.recent_runs keeps.
RECENT_RUNS = 50


@dataclass(frozen=True)
class CheckRow:
    asset: str
    check_name: str
    passed: bool
    severity: str
    description: str | None
    evaluated_at: datetime
    run_id: str


@dataclass(frozen=True)
class MaterializationRow:
    asset: str
    materialized_at: datetime
    run_id: str


@dataclass(frozen=True)
class RunRow:
    run_id: str
    job_name: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None


def _at(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def latest_check_rows(instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey]) -> list[CheckRow]:
    """The latest evaluated result of each check; one planned or running has none yet (the stored row stays)."""
    rows = []
    for key, record in latest_check_executions(instance, check_keys).items():
        evaluation = record.evaluation
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        rows.append(CheckRow(key.asset_key.to_user_string(), key.name, evaluation.passed,
                             evaluation.severity.value, evaluation.description, _at(record.event.timestamp),
                             record.run_id))
    return rows


def latest_materialization_rows(instance: dg.DagsterInstance, asset_keys: Sequence[dg.AssetKey]
                                ) -> list[MaterializationRow]:
    latest = instance.get_latest_materialization_events(list(asset_keys))
    return [MaterializationRow(key.to_user_string(), _at(event.timestamp), event.run_id)
            for key, event in latest.items() if event is not None]


def recent_run_rows(instance: dg.DagsterInstance, limit: int = RECENT_RUNS) -> list[RunRow]:
    """The latest runs by creation, newest first."""
    return [RunRow(r.dagster_run.run_id, r.dagster_run.job_name, r.dagster_run.status.value, _at(r.start_time),
                   _at(r.end_time))
            for r in instance.get_run_records(limit=limit)]


def _sql(name: str) -> str:
    return resources.files("orchestration.monitoring").joinpath(f"sql/{name}.sql").read_text("utf-8")


def write_pipeline_status(conn: psycopg.Connection, check_keys: Sequence[dg.AssetCheckKey],
                          checks: list[CheckRow], asset_keys: Sequence[dg.AssetKey],
                          materializations: list[MaterializationRow], runs: list[RunRow]) -> None:
    """Writes the three tables in one transaction (the dashboard never reads half of it); `check_keys` and
    `asset_keys` are what the code location defines, the rows of anything else are deleted."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(_sql("upsert_latest_check"), [asdict(row) for row in checks])
        cursor.execute(_sql("prune_latest_checks"), {"assets": [k.asset_key.to_user_string() for k in check_keys],
                                                     "check_names": [k.name for k in check_keys]})
        cursor.executemany(_sql("upsert_latest_materialization"), [asdict(row) for row in materializations])
        cursor.execute(_sql("prune_latest_materializations"), {"assets": [k.to_user_string() for k in asset_keys]})
        cursor.execute(_sql("clear_recent_runs"))
        cursor.executemany(_sql("insert_recent_run"), [asdict(row) for row in runs])


def copy_pipeline_status(conn: psycopg.Connection, instance: dg.DagsterInstance,
                         check_keys: Sequence[dg.AssetCheckKey], asset_keys: Sequence[dg.AssetKey]
                         ) -> tuple[int, int, int]:
    """Copies the instance's status of these checks and assets into the tables; (checks, assets, runs) written."""
    checks = latest_check_rows(instance, check_keys)
    materializations = latest_materialization_rows(instance, asset_keys)
    runs = recent_run_rows(instance)
    write_pipeline_status(conn, check_keys, checks, asset_keys, materializations, runs)
    return len(checks), len(materializations), len(runs)
