"""Dagster's run and tick history older than the cutoff, through the instance's own calls. A deleted run takes
its event log (instance.delete_run) and its captured step output under DAGSTER_HOME/storage/<run id> (the
compute log manager's, which delete_run leaves behind)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import dagster as dg
from dagster._core.scheduler.instigation import TickStatus  # purge_ticks takes it; dagster exports none

from orchestration.retention.housekeeping_outcome import DAGSTER_RUNS, DAGSTER_TICKS, PruneOutcome

#: A run in any other state (queued, starting, started, canceling...) may still be going: it stays.
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
#: A tick still STARTED is one the daemon may resume; the daemon's own purge spares it too by default.
FINISHED_TICKS = [TickStatus.SUCCESS, TickStatus.FAILURE, TickStatus.SKIPPED]
PAGE = 500


def finished_runs_before(instance: dg.DagsterInstance, cutoff: datetime) -> Iterator[str]:
    """The ids of the finished runs created before `cutoff`, a page at a time."""
    filters = dg.RunsFilter(statuses=FINISHED, created_before=cutoff)
    cursor = None
    while records := instance.get_run_records(filters=filters, limit=PAGE, cursor=cursor):
        yield from (record.dagster_run.run_id for record in records)
        cursor = records[-1].dagster_run.run_id


def delete_run_history(instance: dg.DagsterInstance, run_id: str) -> None:
    instance.delete_run(run_id)
    instance.compute_log_manager.delete_logs(prefix=[run_id])


def prune_dagster_runs(instance: dg.DagsterInstance | None, cutoff: datetime, *,
                       dry_run: bool = False) -> PruneOutcome:
    """Finished runs created before `cutoff`, with their event logs and captured output; never one in progress."""
    run_ids = [] if instance is None else list(finished_runs_before(instance, cutoff))
    if not dry_run:
        for run_id in run_ids:
            delete_run_history(instance, run_id)
    return PruneOutcome(DAGSTER_RUNS, len(run_ids), None, dry_run=dry_run)


def _instigators(instance: dg.DagsterInstance) -> list:
    """Every schedule's and sensor's stored state, running or not (a stopped one keeps its ticks too)."""
    if instance.schedule_storage is None:
        return []
    return list(instance.all_instigator_state())


def prune_dagster_ticks(instance: dg.DagsterInstance | None, cutoff: datetime, *,
                        dry_run: bool = False) -> PruneOutcome:
    """Finished schedule and sensor ticks before `cutoff`, counted then purged per instigator."""
    before = cutoff.timestamp()
    removed = 0
    for state in [] if instance is None else _instigators(instance):
        origin, selector = state.instigator_origin_id, state.selector_id
        expired = instance.get_ticks(origin, selector, before=before, statuses=FINISHED_TICKS)
        removed += len(expired)
        if expired and not dry_run:
            instance.purge_ticks(origin, selector, before=before, tick_statuses=FINISHED_TICKS)
    return PruneOutcome(DAGSTER_TICKS, removed, None, dry_run=dry_run)
