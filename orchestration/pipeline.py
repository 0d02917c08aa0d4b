"""`monkeytown pipeline`: every asset materialized once, in process, as the sensor and schedules would run
them: the core models, the rollups for the days a late event can still change (one run over them all), then the
dashboard's views."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

import dagster as dg

from orchestration.dbt.partitions import days_a_late_event_can_touch
from orchestration.dbt.set_aside import QUARANTINED_ROWS
from orchestration.definitions import defs


@dataclass(frozen=True)
class PipelineStep:
    label: str
    job_name: str
    partitions: tuple[str, ...] = ()  # the first and last partition key of one run over a range

    def run_tags(self) -> dict[str, str]:
        if not self.partitions:
            return {}
        # one run over the whole range, as a backfill with a single-run policy launches it
        return {"dagster/asset_partition_range_start": self.partitions[0],
                "dagster/asset_partition_range_end": self.partitions[-1]}


@dataclass
class PipelineOutcome:
    success: bool = True
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # "N rows that broke <model>", per model
    results: list[dg.ExecuteInProcessResult] = field(default_factory=list)


def pipeline_steps(now: datetime) -> list[PipelineStep]:
    days = days_a_late_event_can_touch(now)
    return [PipelineStep("core models", "refresh_core_models"),
            PipelineStep(f"rollups {days[0]}..{days[-1]}", "refresh_rollups", (days[0], days[-1])),
            PipelineStep("dashboard views", "refresh_dashboard_views")]


def summarize(result: dg.ExecuteInProcessResult) -> tuple[int, list[str], list[str], int]:
    """(assets materialized, failed checks, checks that warned, checks evaluated)."""
    materialized = len(result.get_asset_materialization_events())
    evaluations = [e.event_specific_data for e in result.all_events
                   if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    failed = [ev for ev in evaluations if not ev.passed]
    name = lambda ev: f"{ev.asset_key.to_user_string()}:{ev.check_name}"  # noqa: E731
    errors = [name(ev) for ev in failed if ev.severity == dg.AssetCheckSeverity.ERROR]
    warnings = [name(ev) for ev in failed if ev.severity != dg.AssetCheckSeverity.ERROR]
    return materialized, errors, warnings, len(evaluations)


def quarantined(result: dg.ExecuteInProcessResult) -> list[str]:
    """The raw rows a step set aside because they broke a model (orchestration.dbt.build), per model."""
    observed = [e.event_specific_data.asset_observation for e in result.all_events
                if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION]
    found = []
    for observation in observed:
        if QUARANTINED_ROWS in observation.metadata:
            count = observation.metadata[QUARANTINED_ROWS].value
            found.append(f"{count} row{'s' if count != 1 else ''} that broke {observation.asset_key.to_user_string()}")
    return found


def materialize_everything(progress: Callable[[str], None] = lambda line: None,
                           now: datetime | None = None, log: TextIO | None = None) -> PipelineOutcome:
    """Runs the steps in order and stops at the first that fails (the next ones read what it builds).
    `log` takes what Dagster and dbt print (dagster-dbt writes dbt's output to sys.stdout)."""
    if log is None:
        return _materialize(progress, now)
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        return _materialize(progress, now)


def _materialize(progress: Callable[[str], None], now: datetime | None) -> PipelineOutcome:
    definitions = defs()
    instance = dg.DagsterInstance.ephemeral()
    steps = pipeline_steps(now or datetime.now(UTC))
    outcome = PipelineOutcome()
    for number, step in enumerate(steps, start=1):
        started = time.perf_counter()
        progress(f"[{number}/{len(steps)}] {step.label} ...")
        result = definitions.resolve_job_def(step.job_name).execute_in_process(
            instance=instance, tags=step.run_tags(), raise_on_error=False)
        materialized, failed_checks, warned, checks = summarize(result)
        outcome.results.append(result)
        outcome.failed_checks += failed_checks
        set_aside = quarantined(result)
        outcome.quarantined += set_aside
        verdict = "ok" if result.success else "FAILED"
        warnings = f" (warnings: {', '.join(warned)})" if warned else ""
        moved = f", quarantined {', '.join(set_aside)} (see raw.ingest_errors)" if set_aside else ""
        progress(f"[{number}/{len(steps)}] {step.label}: {verdict}, {materialized} assets materialized,"
                 f" {checks - len(failed_checks) - len(warned)}/{checks} checks passed{warnings}{moved},"
                 f" {time.perf_counter() - started:.1f} s")
        if not result.success:
            outcome.success = False
            outcome.failed_steps += [e.step_key for e in result.all_events if e.is_step_failure]
            break
    return outcome
