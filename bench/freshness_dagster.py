"""What Dagster recorded of the runs during the freshness benchmark, read with Dagster's Python API from the instance
`monkeytown up` runs (DAGSTER_HOME under MONKEYTOWN_HOME, its storage in the platform's PostgreSQL: read while the
platform still runs). Plain dicts of epoch seconds, for bench/freshness_report.py."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import TICK_ID_TAG

from orchestration.environment import dagster_environment
from orchestration.shared.keys import REFRESH_CORE_MODELS

GAMES = dg.AssetKey(["marts", "games"])


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """dagster.yaml reads the storage URL from the environment: set it (and DAGSTER_HOME) for the while."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def read_runs(database_url: str, home: Path, since: float) -> dict:
    """The runs created since `since` (epoch seconds): every refresh_core_models run with its tick and the
    moments of its life, and how many runs of other jobs ran beside them."""
    env = dagster_environment(database_url, home)
    with _environment({k: env[k] for k in ("DAGSTER_HOME", "MONKEYTOWN_DAGSTER_STORAGE_URL")}), \
            dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(dg.RunsFilter(
            created_after=datetime.fromtimestamp(since, UTC)), ascending=True)
        core = [r for r in records if r.dagster_run.job_name == REFRESH_CORE_MODELS]
        ticks = _ticks(instance, [r.dagster_run.tags.get(TICK_ID_TAG) for r in core])
        runs = [_core_run(instance, r, ticks) for r in core]
        others = [r for r in records if r.dagster_run.job_name != REFRESH_CORE_MODELS]
        return {
            "core_runs": len(runs),
            "core_statuses": dict(Counter(r["status"] for r in runs)),
            "other_jobs": dict(Counter(r.dagster_run.job_name for r in others)),
            "runs": runs,
            "other_runs": [{"run_id": r.dagster_run.run_id, "job": r.dagster_run.job_name,
                            "status": r.dagster_run.status.value,
                            "created_at": r.create_timestamp.timestamp(),
                            "dequeued_at": _first(instance, r.dagster_run.run_id, dg.DagsterEventType.RUN_STARTING),
                            "started_at": r.start_time,
                            "ended_at": r.end_time} for r in others],
        }


def _ticks(instance: dg.DagsterInstance, tick_ids: list[str | None]) -> dict[int, dict]:
    ids = sorted({int(t) for t in tick_ids if t and t.isdigit()})
    storage = instance.schedule_storage
    if not ids or storage is None:
        return {}
    return {tick.tick_id: {"tick_at": tick.timestamp, "tick_ended_at": tick.end_timestamp}
            for tick in storage.get_ticks_by_ids(ids)}


def _first(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType, asset: dg.AssetKey | None = None
           ) -> float | None:
    for entry in instance.all_logs(run_id, of_type=kind):
        if asset is None or (entry.dagster_event and entry.dagster_event.asset_key == asset):
            return entry.timestamp
    return None


def _core_run(instance: dg.DagsterInstance, record, ticks: dict[int, dict]) -> dict:
    run = record.dagster_run
    tick_tag = run.tags.get(TICK_ID_TAG)
    tick = ticks.get(int(tick_tag)) if tick_tag and tick_tag.isdigit() else None
    return {
        "run_id": run.run_id,
        "status": run.status.value,
        "run_key": run.tags.get("dagster/run_key"),
        "retry_of": run.tags.get("dagster/parent_run_id"),
        "tick_id": tick_tag,
        "tick_at": tick["tick_at"] if tick else None,
        "tick_ended_at": tick["tick_ended_at"] if tick else None,
        "created_at": record.create_timestamp.timestamp(),
        # the queue daemon records RUN_STARTING as it takes the run off the queue and launches it (no RUN_DEQUEUED)
        "dequeued_at": _first(instance, run.run_id, dg.DagsterEventType.RUN_STARTING),
        "started_at": record.start_time,
        "games_at": _first(instance, run.run_id, dg.DagsterEventType.ASSET_MATERIALIZATION, GAMES),
        "ended_at": record.end_time,
    }
