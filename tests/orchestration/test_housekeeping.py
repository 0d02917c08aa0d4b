"""Housekeeping of the platform's own history, on real storage: GX validation results and Data Docs written by
real checkpoint runs (the platform's great_expectations.yml, in a folder of the test's own), the platform's
Dagster instance on PostgreSQL with runs executed in process and ticks from real schedule evaluations (Dagster's
own scheduler, under Dagster's frozen clock), and log files, one held open by a running child as the supervisor
holds api.log. What is old is made so by its own record (a GX run time, a frozen tick, a file's mtime) or, for
runs, whose creation time only PostgreSQL sets, by an `as_of` whose cutoff falls between two runs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._scheduler.scheduler import launch_scheduled_runs
from great_expectations.core.run_identifier import RunIdentifier

import great_expectations as gx
import great_expectations.expectations as gxe
from orchestration.environment import dagster_environment
from orchestration.instance import dagster_home, prepare_instance
from orchestration.quality.context import CONFIG_TEMPLATE, DOCS_SITE
from orchestration.quality.environment import DATA_DOCS_VARIABLE, RESULTS_VARIABLE, quality_environment
from orchestration.retention import housekeeping_dagster
from orchestration.retention.apply import prune_platform_history
from orchestration.retention.housekeeping import PruneOutcome, history_cutoff, prune_history
from orchestration.retention.housekeeping_gx import data_docs_dir, gx_results_dir
from orchestration.retention.housekeeping_logs import logs_dir
from orchestration.retention.policy import RetentionPolicy

DAYS = 30
KINDS = ["gx_validation_results", "dagster_runs", "dagster_ticks", "log_files"]


# --- a tiny code location: jobs that finish, fail or wait, and a schedule that skips --------------------------

ENTERED, GATE = threading.Event(), threading.Event()


@dg.op
def say_done() -> str:
    return "done"


@dg.op
def break_on_purpose() -> None:
    raise dg.Failure("on purpose")


@dg.op
def wait_at_gate() -> None:
    ENTERED.set()
    GATE.wait(timeout=60)


@dg.job
def finishes():
    say_done()


@dg.job
def fails():
    break_on_purpose()


@dg.job
def waits():
    wait_at_gate()


@dg.schedule(job=finishes, cron_schedule="0 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING)
def hourly(context: dg.ScheduleEvaluationContext):
    return dg.SkipReason("nothing to do")


TICK_DEFINITIONS = dg.Definitions(jobs=[finishes, fails, waits], schedules=[hourly])


def evaluate_schedules_at(instance: dg.DagsterInstance, *moments: datetime) -> None:
    """Dagster's scheduler, one iteration at each moment (its clock frozen there): a tick per cron time passed."""
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name=__name__, attribute="TICK_DEFINITIONS"))
    with create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), instance) as workspace:
        for moment in moments:
            with freeze_time(moment):
                list(launch_scheduled_runs(workspace, logging.getLogger(__name__), end_datetime_utc=moment,
                                           iteration_times={}))


def ticks(instance: dg.DagsterInstance) -> list[datetime]:
    return sorted(datetime.fromtimestamp(tick.timestamp, UTC) for state in instance.all_instigator_state()
                  for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id))


# --- GX: the platform's file context configuration, a pandas frame validated by a checkpoint --------------------

def gx_project(root: Path) -> gx.data_context.FileDataContext:
    """A file context configured as the platform's (results and Data Docs under MONKEYTOWN_HOME), with one suite."""
    root.mkdir()
    (root / "great_expectations.yml").write_text(CONFIG_TEMPLATE)
    context = gx.get_context(mode="file", context_root_dir=str(root))
    asset = context.data_sources.add_pandas("frames").add_dataframe_asset("scores")
    batch = asset.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite("scores", expectations=[
        gxe.ExpectColumnValuesToNotBeNull(column="score")]))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="scores", data=batch, suite=suite))
    context.checkpoints.add(gx.Checkpoint(name="scores", validation_definitions=[definition], actions=[
        gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])]))
    return context


def validate_at(context, moment: datetime) -> str:
    """Runs the checkpoint as if at `moment`; returns the run time folder GX names the result by."""
    context.checkpoints.get("scores").run(batch_parameters={"dataframe": pd.DataFrame({"score": [1, 2]})},
                                          run_id=RunIdentifier(run_time=moment))
    return moment.strftime("%Y%m%dT%H%M%S.%fZ")


def files_under(home: Path) -> dict[str, float]:
    return {str(path.relative_to(home)): path.stat().st_mtime for path in sorted(home.rglob("*"))
            if path.is_file() and "dagster" not in path.relative_to(home).parts}


# --- the world: a MONKEYTOWN_HOME and a Dagster instance holding old, recent and running history ---------------

@dataclass
class World:
    home: Path
    instance: dg.DagsterInstance
    gx_context: object
    as_of: datetime  # its cutoff: the recent run's creation
    old_runs: list[str]
    recent_run: str
    running_run: str
    old_validations: list[str]
    recent_validation: str
    recent_tick: datetime
    old_logs: list[Path]
    kept_logs: list[Path]
    held_log: Path  # old, but a running child writes it
    holder: subprocess.Popen


def set_mtime(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def hold_open(path: Path) -> subprocess.Popen:
    """A child whose output goes to `path`, as the supervisor starts api.log's (it waits on its stdin)."""
    with path.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                                stdout=sink, stderr=subprocess.STDOUT)


def start_waiting_run(instance: dg.DagsterInstance) -> threading.Thread:
    """A run in progress (STARTED) until GATE opens: its op waits there, in a thread of its own."""
    ENTERED.clear()
    GATE.clear()
    running = threading.Thread(target=waits.execute_in_process, kwargs={"instance": instance})
    running.start()
    assert ENTERED.wait(timeout=60), "the waiting run never started"
    return running


def write_logs(home: Path, old: datetime, recent: datetime) -> tuple[list[Path], list[Path], Path]:
    """(old closed files, recent files, an old file a running child holds open)."""
    folder = logs_dir(home)
    old_logs = [folder / "monkeytown.log.2026-01-01", folder / "bench" / "dbt.log"]
    kept_logs = [folder / "monkeytown.log", folder / "pipeline.log"]
    held_log = folder / "api.log"
    for path in [*old_logs, *kept_logs, held_log]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a line\n")
        set_mtime(path, recent if path in kept_logs else old)
    return old_logs, kept_logs, held_log


@pytest.fixture
def world(make_database, monkeypatch, tmp_path):
    home = tmp_path / "home"
    url = make_database(migrated=False)
    for name, value in dagster_environment(url, home).items():
        monkeypatch.setenv(name, value)
    prepare_instance(url, home)
    instance = dg.DagsterInstance.from_config(str(dagster_home(home)))
    running = start_waiting_run(instance)
    old_runs = [finishes.execute_in_process(instance=instance).run_id,
                fails.execute_in_process(instance=instance, raise_on_error=False).run_id]
    recent_run = finishes.execute_in_process(instance=instance).run_id
    cutoff = instance.get_run_record_by_id(recent_run).create_timestamp
    old, just_after = cutoff - timedelta(days=10), cutoff + timedelta(hours=1)

    context = gx_project(tmp_path / "gx_project")
    old_validations = [validate_at(context, old - timedelta(days=1)), validate_at(context, old)]
    recent_validation = validate_at(context, just_after)
    # a first iteration only starts the schedule; each later one ticks for the hour it passed
    evaluate_schedules_at(instance, old - timedelta(hours=2), old, cutoff + timedelta(hours=2))
    old_logs, kept_logs, held_log = write_logs(home, old, just_after)
    holder = hold_open(held_log)

    running_run = next(run.run_id for run in instance.get_runs() if run.job_name == "waits")
    yield World(home, instance, context, cutoff + timedelta(days=DAYS), old_runs, recent_run, running_run,
                old_validations, recent_validation, ticks(instance)[-1], old_logs, kept_logs, held_log, holder)
    holder.stdin.close()
    holder.wait(timeout=10)
    GATE.set()
    running.join(timeout=60)
    instance.dispose()


def counts(outcomes: list[PruneOutcome]) -> dict[str, int]:
    return {outcome.what: outcome.rows for outcome in outcomes}


def run_ids(instance: dg.DagsterInstance) -> set[str]:
    return {run.run_id for run in instance.get_runs()}


# --- the tests ----------------------------------------------------------------------------------------------------

def test_the_cutoff_counts_days_from_as_of():
    assert history_cutoff(date(2026, 3, 31), 30) == datetime(2026, 3, 1, tzinfo=UTC)
    assert history_cutoff(datetime(2026, 3, 31, 6), 1) == datetime(2026, 3, 30, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="at least 1 day"):
        history_cutoff(date(2026, 3, 31), 0)


def test_the_folders_are_those_the_quality_checks_and_the_logs_write_to(tmp_path):
    written = quality_environment("postgresql://monkeytown@localhost/monkeytown", tmp_path)
    assert str(gx_results_dir(tmp_path)) == written[RESULTS_VARIABLE]
    assert str(data_docs_dir(tmp_path)) == written[DATA_DOCS_VARIABLE]
    assert logs_dir(tmp_path) == tmp_path.resolve() / "logs"  # monkeytown.logs.configure_logging's folder


def test_nothing_is_pruned_before_any_history_exists(tmp_path):
    home = tmp_path / "never_started"
    outcomes = prune_history(home, dg.DagsterInstance.ephemeral(), date(2026, 11, 30), DAYS)
    assert counts(outcomes) == dict.fromkeys(KINDS, 0)
    assert counts(prune_history(home, None, date(2026, 11, 30), DAYS)) == dict.fromkeys(KINDS, 0)
    assert not home.exists()


def test_a_dry_run_counts_what_would_go_and_changes_nothing(world, monkeypatch):
    monkeypatch.setattr(housekeeping_dagster, "PAGE", 1)  # the runs are read a page at a time
    files, runs, tick_times = files_under(world.home), run_ids(world.instance), ticks(world.instance)
    rebuilt = []
    outcomes = prune_history(world.home, world.instance, world.as_of, DAYS, dry_run=True,
                             rebuild_data_docs=lambda: rebuilt.append(True))
    assert counts(outcomes) == {"gx_validation_results": 2, "dagster_runs": 2, "dagster_ticks": 1, "log_files": 2}
    assert all(" would prune " in outcome.line() for outcome in outcomes)
    assert files_under(world.home) == files
    assert run_ids(world.instance) == runs
    assert ticks(world.instance) == tick_times
    assert rebuilt == []


def test_old_history_goes_and_recent_or_running_history_stays(world):
    outcomes = prune_history(world.home, world.instance, world.as_of, DAYS,
                             rebuild_data_docs=world.gx_context.build_data_docs)
    assert counts(outcomes) == {"gx_validation_results": 2, "dagster_runs": 2, "dagster_ticks": 1, "log_files": 2}
    by_kind = {outcome.what: outcome for outcome in outcomes}
    assert by_kind["gx_validation_results"].bytes > 0 and by_kind["log_files"].bytes == 2 * len("a line\n")
    assert by_kind["dagster_runs"].line() == "dagster_runs: pruned 2, -"

    results, pages = gx_results_dir(world.home) / "scores" / "__none__", data_docs_dir(world.home) / "validations"
    assert sorted(path.name for path in results.iterdir()) == [world.recent_validation]
    assert sorted(path.name for path in (pages / "scores" / "__none__").iterdir()) == [world.recent_validation]
    index = (data_docs_dir(world.home) / "index.html").read_text()
    assert world.recent_validation in index
    assert not any(run_time in index for run_time in world.old_validations)

    assert run_ids(world.instance) == {world.recent_run, world.running_run}
    assert world.instance.get_run_by_id(world.running_run).status is dg.DagsterRunStatus.STARTED
    assert not any(world.instance.all_logs(run_id) for run_id in world.old_runs)  # their event logs went too
    assert world.instance.all_logs(world.recent_run)
    captured = dagster_home(world.home) / "storage"  # the compute log manager's step output, one folder a run
    assert not any((captured / run_id).exists() for run_id in world.old_runs)
    assert (captured / world.recent_run).is_dir()
    assert ticks(world.instance) == [world.recent_tick]

    assert not any(path.exists() for path in world.old_logs)
    assert all(path.exists() for path in [*world.kept_logs, world.held_log])


def test_a_log_file_goes_once_the_process_writing_it_has_exited(world):
    prune_history(world.home, world.instance, world.as_of, DAYS)
    assert world.held_log.exists()
    world.holder.stdin.close()
    world.holder.wait(timeout=10)
    outcomes = prune_history(world.home, world.instance, world.as_of, DAYS)
    assert counts(outcomes) == {"gx_validation_results": 0, "dagster_runs": 0, "dagster_ticks": 0, "log_files": 1}
    assert not world.held_log.exists()


def test_a_second_run_prunes_nothing(world):
    rebuilt = []
    prune_history(world.home, world.instance, world.as_of, DAYS, rebuild_data_docs=lambda: rebuilt.append(True))
    files, runs, tick_times = files_under(world.home), run_ids(world.instance), ticks(world.instance)
    outcomes = prune_history(world.home, world.instance, world.as_of, DAYS,
                             rebuild_data_docs=lambda: rebuilt.append(True))
    assert counts(outcomes) == dict.fromkeys(KINDS, 0)
    assert rebuilt == [True]  # Data Docs rebuilt once, by the run that pruned results
    assert [outcome.bytes for outcome in outcomes] == [0, None, None, 0]
    assert (files_under(world.home), run_ids(world.instance), ticks(world.instance)) == (files, runs, tick_times)


def test_without_a_rebuild_the_next_checkpoint_run_drops_the_pruned_pages_from_the_index(world):
    prune_history(world.home, world.instance, world.as_of, DAYS)
    index = data_docs_dir(world.home) / "index.html"
    assert any(run_time in index.read_text() for run_time in world.old_validations)  # until Data Docs rebuild
    validate_at(world.gx_context, datetime.now(UTC))  # as the hourly refresh's checks do
    assert not any(run_time in index.read_text() for run_time in world.old_validations)
    assert world.recent_validation in index.read_text()


def test_measurements_and_webhook_deliveries_older_than_the_history_go_and_the_pruning_is_recorded(
        make_database, tmp_path):
    url = make_database()
    as_of = date(2026, 11, 30)
    cutoff = history_cutoff(as_of, DAYS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO monitoring.measurements (metric, measured_at, value)"
                     " SELECT 'error_rate', %s + n * interval '1 hour', 0.001 FROM generate_series(-3, 2) AS n",
                     (cutoff,))
        conn.execute("INSERT INTO raw.github_deliveries (delivery_id, event, received_at)"
                     " SELECT 'd-' || n, 'ping', %s + n * interval '1 day' FROM generate_series(-2, 1) AS n",
                     (cutoff,))
    policy = RetentionPolicy(history_days=DAYS)

    dry = prune_platform_history(url, tmp_path / "home", None, as_of, policy, dry_run=True)
    assert {o.what: o.rows for o in dry if o.rows} == {"monitoring_measurements": 3, "github_deliveries": 2}
    done = prune_platform_history(url, tmp_path / "home", None, as_of, policy)
    assert {o.what: o.rows for o in done if o.rows} == {"monitoring_measurements": 3, "github_deliveries": 2}
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT min(measured_at) FROM monitoring.measurements").fetchone()[0] == cutoff
        assert conn.execute("SELECT min(received_at) FROM raw.github_deliveries").fetchone()[0] == cutoff
        recorded = conn.execute("SELECT payload -> 'event_data' ->> 'what', payload -> 'event_data' ->> 'rows'"
                                " FROM raw.events WHERE type = 'retention'").fetchall()
    assert sorted(recorded) == [("github_deliveries", "2"), ("monitoring_measurements", "3")]
    again = prune_platform_history(url, tmp_path / "home", None, as_of, policy)
    assert sum(o.rows for o in again) == 0
