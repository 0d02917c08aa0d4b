"""Archive, prove, then drop (QUALITY.md rows 21 and 22) on a real PostgreSQL, in a local folder and in a real S3
API: the policy's days go and nothing else, every row is in PostgreSQL or in the archive, an S3 error deletes
nothing, a process killed at any step loses nothing and the rerun finishes, a dry run changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path

import psycopg
import pytest

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.door import LandingRow, admit
from ingest_api.landing import LandingJob, Provenance, land
from orchestration.retention import archive_then_drop as archive_then_drop_module
from orchestration.retention.archive_then_drop import (
    STEPS,
    Result,
    RetentionFailed,
    archive_then_drop,
    run_retention,
)
from orchestration.retention.columns import COLUMNS
from orchestration.retention.errors import ArchiveStoreError, ChecksumMismatch
from orchestration.retention.parquet_day import verify_day
from orchestration.retention.policy import RetentionPolicy, expired_family_days
from orchestration.retention.restore import archived_days, iter_day_rows
from orchestration.retention.step_barrier import PAUSE_VARIABLE
from orchestration.retention.store import StoreLimits, open_archive_store
from tests.ingest_api.factories import agent_run, game_end, game_start, move
from tests.orchestration.s3_server import S3_ENV, Fault, new_bucket

FIRST_DAY = date(2025, 1, 6)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(3)]
LAST_DAY = DAYS[-1]
POLICY = RetentionPolicy()
FAST_FAILING = StoreLimits(connect_timeout=1, read_timeout=5, max_attempts=2)
SELECT_ROWS = f"SELECT {', '.join(COLUMNS[:-1])}, payload::text FROM raw.events WHERE type <> 'retention'"
KILL_BOUND_SECONDS = 30


def _system_event(event_type: str, event_data: dict) -> dict:
    return {"event_id": f"{event_type}-{uuid.uuid4().hex}", "type": event_type, "event_data": event_data}


def land_three_families(url: str) -> None:
    """Per day: a game (start, two moves, end), an agent run and two system events, through the door."""
    with psycopg.connect(url, autocommit=True) as conn:
        # landing remembers the days it made per process, across the session's databases
        for day in [*DAYS, datetime.now(UTC).date()]:
            conn.execute("SELECT raw.ensure_events_partition(%s)", (day,))
        for day in DAYS:
            received_at = datetime.combine(day, day_time(12), tzinfo=UTC)
            game = f"g-{day:%Y%m%d}"
            verdicts = [admit(event, received_at) for event in (
                game_start(game_id=game), move(game_id=game), move(game_id=game), game_end(game_id=game))]
            verdicts.append(admit(agent_run(), received_at, endpoint=AGENT_RUNS_ENDPOINT))
            verdicts += [admit(event, received_at, endpoint=None) for event in (
                _system_event("server_start", {"version": "9.9.9", "pid": 1, "host": "h", "workers": 2}),
                _system_event("process_restart", {"process": "api", "exit_code": 1, "recent_crashes": 1,
                                                  "action": "restarted", "backoff_seconds": 1.0}),
            )]
            assert all(isinstance(v, LandingRow) for v in verdicts), [getattr(v, "message", v) for v in verdicts]
            [outcome] = land(conn, [LandingJob(verdicts, [], Provenance())])
            assert outcome.statuses == ["accepted"] * len(verdicts)


def in_postgres(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return sorted(conn.execute(SELECT_ROWS).fetchall())


def in_archive(store) -> list[tuple]:
    return sorted(row for manifest in archived_days(store)
                  for row in iter_day_rows(store, manifest.family, manifest.day))


def families_held(url: str) -> set[tuple[str, date]]:
    with psycopg.connect(url) as conn:
        return {(family, day) for family, day, _, rows in conn.execute("SELECT * FROM raw.family_days()")
                if day in DAYS and family != "default"}


def retention_events(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return sorted(conn.execute("SELECT payload #>> '{event_data,family}', payload #>> '{event_data,day}',"
                                   " (payload #>> '{event_data,rows}')::int"
                                   " FROM raw.events WHERE type = 'retention'").fetchall())


def assert_nothing_lost(url: str, store, original: list[tuple]) -> None:
    """Every original row is in PostgreSQL or in the archive, once (each dropped day is archived, verified)."""
    assert sorted(in_postgres(url) + in_archive(store)) == original


def store_objects(store) -> list[tuple]:
    return [(info.key, info.size) for info in store.list("")]


@pytest.fixture(autouse=True)
def s3_credentials(monkeypatch):
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def landed(make_database):
    url = make_database()
    land_three_families(url)
    return url, in_postgres(url)


def test_the_policy_expires_system_days_after_30_game_days_after_90_agent_runs_never(landed):
    url, _ = landed
    with psycopg.connect(url) as conn:
        assert expired_family_days(conn, LAST_DAY + timedelta(days=30), POLICY) == [
            ("server", day, 2) for day in DAYS[:-1]]
        assert expired_family_days(conn, LAST_DAY + timedelta(days=91), POLICY) == [
            (family, day, rows) for day in DAYS for family, rows in (("client", 4), ("server", 2))]
        assert expired_family_days(conn, LAST_DAY + timedelta(days=3), RetentionPolicy(system_events_days=3)) == [
            ("server", day, 2) for day in DAYS[:2]]
    with pytest.raises(ValueError, match="at least 1 day"):
        RetentionPolicy(game_events_days=0)


def test_retention_as_of_31_and_91_days_and_a_year_keeps_every_row_in_postgresql_or_the_archive(landed, store):
    url, original = landed
    agent_runs = [row for row in original if row[COLUMNS.index("source")] == "ci"]

    report = run_retention(url, store, LAST_DAY + timedelta(days=31), POLICY, dry_run=False)
    assert [(d.family, d.day, d.rows, d.outcome) for d in report.days] == [
        ("server", day, 2, Result.ARCHIVED_AND_DROPPED) for day in DAYS]
    assert all(d.bytes > 0 and d.archive_object.startswith(store.url) for d in report.days)
    assert families_held(url) == {(family, day) for family in ("ci", "client") for day in DAYS}
    assert_nothing_lost(url, store, original)

    report = run_retention(url, store, LAST_DAY + timedelta(days=91), POLICY)
    assert [(d.family, d.day, d.outcome) for d in report.days] == [
        ("client", day, Result.ARCHIVED_AND_DROPPED) for day in DAYS]
    assert_nothing_lost(url, store, original)

    report = run_retention(url, store, LAST_DAY + timedelta(days=366), POLICY)
    assert report.days == []  # a second run finds nothing left to do
    assert in_postgres(url) == agent_runs  # agent runs untouched, row for row
    assert families_held(url) == {("ci", day) for day in DAYS}
    assert_nothing_lost(url, store, original)
    assert all(verify_day(store, m.family, m.day).ok for m in archived_days(store))
    assert retention_events(url) == sorted(
        (family, day.isoformat(), rows) for family, rows in (("client", 4), ("server", 2)) for day in DAYS)


def test_a_dry_run_changes_nothing_and_a_second_run_does_nothing(landed, local_store):
    url, original = landed
    as_of = LAST_DAY + timedelta(days=91)
    dry = run_retention(url, local_store, as_of, POLICY, dry_run=True)
    assert [(d.family, d.day, d.rows, d.outcome) for d in dry.days] == [
        (family, day, rows, Result.WOULD_ARCHIVE_AND_DROP) for day in DAYS for family, rows in (("client", 4),
                                                                                                ("server", 2))]
    assert in_postgres(url) == original
    assert store_objects(local_store) == []
    assert retention_events(url) == []

    run_retention(url, local_store, as_of, POLICY)
    objects, remaining = store_objects(local_store), in_postgres(url)
    again = run_retention(url, local_store, as_of, POLICY)
    assert again.days == []
    assert (store_objects(local_store), in_postgres(url)) == (objects, remaining)
    # asked for a dropped day directly: done, proven by its archive
    done = archive_then_drop(url, local_store, "client", FIRST_DAY)
    assert (done.outcome, done.rows) == (Result.ALREADY_DONE, 4)


def test_before_dbt_ever_ran_a_drop_deletes_no_mart_rows_and_its_line_says_none(landed, local_store):
    url, _ = landed
    report = run_retention(url, local_store, LAST_DAY + timedelta(days=91), POLICY)
    assert [d.mart_rows for d in report.days] == [{}] * 6  # no marts.moves or marts.system_events to follow
    first = report.days[0]
    assert first.line() == f"{FIRST_DAY} client: 4 rows, {first.bytes} bytes, archived_and_dropped"

def test_an_s3_error_mid_archive_fails_the_run_deleting_nothing_and_the_rerun_succeeds(landed, proxy, moto_endpoint):
    url, original = landed
    store = open_archive_store(f"s3://{new_bucket(moto_endpoint)}/archive", s3_endpoint_url=proxy.url,
                               limits=FAST_FAILING)
    as_of = LAST_DAY + timedelta(days=91)
    proxy.arm(Fault("PUT", "manifest.json", "error"))  # the data object lands, its manifest never does
    try:
        with pytest.raises(RetentionFailed) as failed:
            run_retention(url, store, as_of, POLICY)
    finally:
        proxy.disarm()
    assert isinstance(failed.value.__cause__, ArchiveStoreError)
    assert [(d.family, d.day, d.outcome) for d in failed.value.report.days] == [("client", FIRST_DAY, Result.FAILED)]
    assert in_postgres(url) == original
    assert retention_events(url) == []

    report = run_retention(url, store, as_of, POLICY)
    assert len(report.days) == 6 and all(d.outcome is Result.ARCHIVED_AND_DROPPED for d in report.days)
    assert_nothing_lost(url, store, original)


def test_a_day_whose_rows_changed_after_archiving_is_never_dropped(landed, local_store, monkeypatch):
    url, original = landed
    real_archive = archive_then_drop_module._archive

    def archive_then_change_a_row(conn, store, family, selection):
        verification = real_archive(conn, store, family, selection)
        conn.execute("UPDATE raw.events SET payload = payload || '{\"x\": 1}' WHERE source = %s"
                     " AND occurred_at >= %s AND occurred_at < %s", (family, *selection.bounds()))
        return verification

    monkeypatch.setattr(archive_then_drop_module, "_archive", archive_then_change_a_row)
    with pytest.raises(ChecksumMismatch, match="nothing dropped"):
        archive_then_drop(url, local_store, "server", FIRST_DAY)
    assert ("server", FIRST_DAY) in families_held(url)
    assert len(in_postgres(url)) == len(original)


def run_in_subprocess(url: str, archive_url: str, as_of: date, env: dict) -> subprocess.Popen:
    code = ("import datetime, sys; from orchestration.retention.archive_then_drop import run_retention; "
            "from orchestration.retention.policy import RetentionPolicy; "
            "from orchestration.retention.store import open_archive_store; "
            "run_retention(sys.argv[1], open_archive_store(sys.argv[2]), datetime.date.fromisoformat(sys.argv[3]), "
            "RetentionPolicy())")
    return subprocess.Popen([sys.executable, "-c", code, url, archive_url, as_of.isoformat()], env=env,
                            cwd=Path(__file__).parents[2], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + KILL_BOUND_SECONDS
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode} before {path.name}: {process.stdout.read()!r}")
        assert time.monotonic() < deadline, f"{path.name} not reached within {KILL_BOUND_SECONDS}s"
        time.sleep(0.02)  # polling the barrier file, bounded by the deadline


@pytest.mark.parametrize("step", STEPS)
def test_a_process_killed_at_each_step_loses_nothing_and_the_rerun_finishes(landed, local_store, tmp_path, step):
    url, original = landed
    as_of = LAST_DAY + timedelta(days=31)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    process = run_in_subprocess(url, local_store.url, as_of, {**os.environ, PAUSE_VARIABLE: f"{step}:{barrier}"})
    try:
        wait_for(barrier / f"{step}.reached", process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert sorted(set(in_postgres(url) + in_archive(local_store))) == original  # nothing lost, at the kill

    report = run_retention(url, local_store, as_of, POLICY)
    finished = [(d.family, d.day) for d in report.days]
    assert finished == [("server", day) for day in DAYS[1 if step == "committed" else 0:]]
    assert families_held(url) == {(family, day) for family in ("ci", "client") for day in DAYS}
    assert_nothing_lost(url, store=local_store, original=original)
    assert [(f, d) for f, d, _ in retention_events(url)] == [("server", day.isoformat()) for day in DAYS]
