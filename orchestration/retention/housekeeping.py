"""The platform's own history older than MONKEYTOWN_PRUNE_HISTORY_DAYS, pruned so that MONKEYTOWN_HOME and the
Dagster database do not grow without bound: Great Expectations' validation results (with their Data Docs
pages), Dagster's finished runs (with their event logs and captured output) and finished ticks, and log files no
process holds open. Each kind tolerates its storage not existing yet; a dry run counts and changes nothing; a
rerun finds nothing left. Recording what went (ingest_api.system_events.record_history_pruned) is the caller's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import dagster as dg

from orchestration.retention.housekeeping_dagster import prune_dagster_runs, prune_dagster_ticks
from orchestration.retention.housekeeping_gx import prune_gx_results
from orchestration.retention.housekeeping_logs import prune_log_files
from orchestration.retention.housekeeping_outcome import PruneOutcome, history_cutoff

__all__ = ["PruneOutcome", "history_cutoff", "prune_history"]


def prune_history(home: Path, dagster_instance: dg.DagsterInstance | None, as_of: date | datetime, days: int, *,
                  dry_run: bool = False, rebuild_data_docs: Callable[[], object] | None = None
                  ) -> list[PruneOutcome]:
    """Everything older than `days` before `as_of`, one outcome per kind (gx_validation_results, dagster_runs,
    dagster_ticks, log_files). `dagster_instance` None: no Dagster storage yet. `rebuild_data_docs`, when given,
    is called after validation results went, so the Data Docs index stops listing them (retention may not import
    orchestration.quality, which builds them)."""
    cutoff = history_cutoff(as_of, days)
    outcomes = [
        prune_gx_results(Path(home), cutoff, dry_run=dry_run),
        prune_dagster_runs(dagster_instance, cutoff, dry_run=dry_run),
        prune_dagster_ticks(dagster_instance, cutoff, dry_run=dry_run),
        prune_log_files(Path(home), cutoff, dry_run=dry_run),
    ]
    if rebuild_data_docs is not None and not dry_run and outcomes[0].rows:
        rebuild_data_docs()
    return outcomes
