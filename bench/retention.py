"""`monkeytown bench --retention [--quick]`: what the retention policy costs a day. About three months of the
simulator's traffic (bench/traffic.py) land in raw.events and the marts are built once; then, one day at a time,
the oldest game-event day passes its 90 days and is archived, proven and dropped, the players inactive 90 days
are anonymized and the platform's history is pruned, in one of three ways side by side in every round:

- `dagster`: the daily job as Dagster runs it, in process: `archive_expired_days` for every partition the daily
  schedule asks for (the game-event day, and the system-event day past its 30 days), then
  `player_privacy_and_housekeeping`; the sum of their walls is the time the daily job takes;
- `retention_run`: what `monkeytown retention run` does (`apply_retention_policy`), to show Dagster's overhead;
- `archive_then_drop`: the game-event day's archive-then-drop step alone (the archive throughput), the rest of
  the policy after it untimed.

Every step is a day later than the one before (step j is as of `today - (steps - 1 - j)`, the last one today).
`apply_retention_policy` takes that date; Dagster's assets evaluate the policy as of the real today, so their runs
get the policy with each period lengthened by the days between the step's date and today (the same days expire,
the same players are inactive). Before the first step the days already past their retention are archived
untimed, as a platform running daily would have done. Each step records the game-event day's rows and size in
PostgreSQL before the drop and its Parquet object's size, and checks that the day left PostgreSQL and its archive
verifies with the same rows."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path

import dagster as dg
import psycopg
from psycopg import sql

from bench import cpu, traffic
from bench.dbt_runs import Dbt
from bench.report import write_reports
from bench.retention_report import markdown, summarize
from bench.transform import _analyze_marts, _checkpoint, _connect, _database, _describe, definitions_import_seconds
from monkeytown.secret_files import anonymization_key
from monkeytown.settings import Settings, load_settings
from orchestration.definitions import build_definitions
from orchestration.retention.apply import PolicyReport, apply_retention_policy
from orchestration.retention.archive_then_drop import archive_then_drop
from orchestration.retention.parquet_day import verify_day
from orchestration.retention.policy import GAME_EVENTS, SYSTEM_EVENTS, RetentionPolicy, expired_family_days
from orchestration.retention.resources import KEY_SETTING, retention_resource
from orchestration.retention.schedules import days_to_archive
from orchestration.retention.store import ArchiveStore, open_archive_store

VARIANTS = ("dagster", "retention_run", "archive_then_drop")
POLICY = RetentionPolicy()
ARCHIVE_JOB = "archive_expired_days"
PRIVACY_JOB = "player_privacy_and_housekeeping"
PRIVACY_NODE = "retention__player_privacy"


@dataclass(frozen=True)
class RetentionPlan:
    events: int = 1_000_000
    rounds: int = 4
    seed: int = 1130


QUICK = RetentionPlan(events=100_000, rounds=2)


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Timeline:
    """The steps' dates: step j is as of `today - shift(j)`, the last one today; its game-event day is the one
    that passes its retention that day. The data starts on the first step's game-event day."""

    today: date
    steps: int

    def shift(self, step: int) -> int:
        return self.steps - 1 - step

    def as_of(self, step: int) -> date:
        return self.today - timedelta(days=self.shift(step))

    def game_day(self, step: int) -> date:
        return self.as_of(step) - timedelta(days=POLICY.game_events_days + 1)

    @property
    def first_day(self) -> date:
        return self.game_day(0)

    @property
    def days(self) -> int:
        return (self.today - self.first_day).days


def _midnight(day: date) -> datetime:
    return datetime.combine(day, day_time(), UTC)


# --- the database -------------------------------------------------------------------------------------------


def family_day(conn: psycopg.Connection, family: str, day: date) -> dict | None:
    """The family day's table in raw.events: its rows and sizes (heap alone, heap and TOAST, with its indexes);
    None when PostgreSQL no longer holds it."""
    found = conn.execute(
        "SELECT n.nspname, c.relname, pg_relation_size(c.oid), pg_table_size(c.oid), pg_total_relation_size(c.oid)"
        " FROM raw.family_partitions() AS p JOIN pg_class AS c ON c.oid = p.partition_name"
        " JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE p.family = %s AND p.day = %s",
        (family, day)).fetchone()
    if found is None:
        return None
    schema, table, heap, heap_toast, total = found
    rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))).fetchone()[0]
    return {"table": f"{schema}.{table}", "rows": rows, "heap_bytes": heap, "table_bytes": heap_toast,
            "total_bytes": total}


def _prepare(url: str, plan: RetentionPlan, timeline: Timeline, dbt: Dbt) -> dict:
    """The traffic of every day from the first step's game-event day to yesterday, COPYed as the API would have
    landed it; then the marts, built once by a full `dbt run`."""
    start, end = _midnight(timeline.first_day), _midnight(timeline.today)
    generated = traffic.Traffic(plan.seed, start, end, plan.events / timeline.days)
    traffic.ensure_partitions(url, timeline.first_day - timedelta(days=1), timeline.today + timedelta(days=1))
    started = time.perf_counter()
    loaded = traffic.load(url, generated, end, 0)
    load_s = time.perf_counter() - started
    with _connect(url) as conn:
        conn.execute("VACUUM ANALYZE raw.events, raw.event_ids, raw.ingest_errors")
    _progress(f"loaded {loaded.events:,} events over {timeline.days} days in {load_s:.1f} s; building the marts")
    marts = dbt("marts", "run")
    _analyze_marts(url)
    with _connect(url) as conn:
        counts = {name: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("marts", name)))
                  .fetchone()[0] for name in ("moves", "games", "players")}
    return {"events": loaded.events, "events_by_type": loaded.counts_by_type, "ingest_errors": loaded.errors,
            "days": timeline.days, "from": timeline.first_day.isoformat(), "to": timeline.today.isoformat(),
            "events_per_day": round(loaded.events / timeline.days), "load_s": round(load_s, 1),
            "dbt_run_s": marts["wall_s"], "marts": counts}


# --- the three ways ---------------------------------------------------------------------------------------------


@dataclass
class Bench:
    url: str
    home: Path  # MONKEYTOWN_HOME of the platform under test: the archive, the anonymization key, the logs
    settings: Settings
    store: ArchiveStore
    key: bytes
    roots: dict[str, int]
    log: Path
    checkpoints: bool = True

    def timed(self, work: Callable[[], dict]) -> dict:
        """`work`'s figures with its wall time and the cores each process tree used meanwhile, after a CHECKPOINT
        (so no earlier step's dirty pages are flushed on its clock)."""
        self.checkpoints &= _checkpoint(self.url)
        before = cpu.snapshot(self.roots)
        started = time.perf_counter()
        result = work()
        wall = time.perf_counter() - started
        usage = cpu.usage(before, cpu.snapshot(self.roots))
        usage.pop("api_workers", None)
        return {"wall_s": round(wall, 3), **result, "cores": usage}

    def retention_run(self, as_of: date) -> dict:
        report = apply_retention_policy(self.url, self.store, POLICY, as_of, key=self.key, home=self.home)
        return policy_figures(report)


def policy_figures(report: PolicyReport) -> dict:
    players = {outcome.action: outcome.players for outcome in report.players}
    changed = {outcome.action: outcome.tables for outcome in report.players}
    return {"family_days": [f"{day.family} {day.day}: {day.rows} rows, {day.outcome}" for day in report.archive.days],
            "players_anonymized": players.get("players_anonymized", 0),
            "players_deleted": players.get("players_deleted", 0),
            "rows_anonymized": changed.get("players_anonymized", {}),
            "history_pruned": sum(outcome.rows for outcome in report.pruned)}


class DagsterDaily:
    """The daily retention jobs executed in process on one ephemeral instance, as the daily schedules ask for
    them: an `archive_expired_days` run per partition holding a family day past its retention, then
    `player_privacy_and_housekeeping`. Dagster's and the assets' output go to a log."""

    def __init__(self, bench: Bench, today: date):
        self.bench, self.today = bench, today
        self.instance = dg.DagsterInstance.ephemeral()

    def settings(self, shift: int) -> Settings:
        """The policy as of `shift` days before today, as the assets (which read the real today) see it."""
        s = self.bench.settings
        return replace(s, retain_game_events_days=s.retain_game_events_days + shift,
                       retain_system_events_days=s.retain_system_events_days + shift,
                       player_anonymize_days=s.player_anonymize_days + shift,
                       player_delete_days=s.player_delete_days + shift,
                       prune_history_days=s.prune_history_days + shift)

    def definitions(self, shift: int) -> dg.Definitions:
        if datetime.now(UTC).date() != self.today:
            raise RuntimeError(f"the UTC day changed since the benchmark started ({self.today}): the policy's shift "
                               "no longer matches the steps' dates; run it again")
        return build_definitions(self.bench.url, self.settings(shift))

    def partitions(self, shift: int) -> list[str]:
        return days_to_archive(self.bench.url, retention_resource(self.settings(shift)), self.today)

    def _execute(self, job: dg.JobDefinition, label: str, partition_key: str | None = None
                 ) -> tuple[dict, dg.ExecuteInProcessResult]:
        with self.bench.log.open("a") as log:
            log.write(f"\n===== {label}\n")
            log.flush()
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                started = time.perf_counter()
                result = job.execute_in_process(partition_key=partition_key, instance=self.instance,
                                                raise_on_error=False)
                wall = time.perf_counter() - started
        if not result.success:
            failures = [event.event_specific_data.error.to_string() for event in result.all_events
                        if event.is_step_failure]
            raise RuntimeError(f"the Dagster run {label} failed; see {self.bench.log}:\n" + "\n".join(failures))
        return {"label": label, "wall_s": round(wall, 3), "steps": self._step_seconds(result.run_id)}, result

    def _step_seconds(self, run_id: str) -> dict[str, float]:
        started, seconds = {}, {}
        types = dg.DagsterEventType
        for entry in self.instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type == types.STEP_START:
                started[event.step_key] = entry.timestamp
            elif event.event_type in (types.STEP_SUCCESS, types.STEP_FAILURE) and event.step_key in started:
                seconds[event.step_key] = round(entry.timestamp - started[event.step_key], 3)
        return seconds

    def privacy(self, shift: int, label: str) -> dict:
        job = self.definitions(shift).resolve_job_def(PRIVACY_JOB)
        run, result = self._execute(job, label)
        [materialization] = result.asset_materializations_for_node(PRIVACY_NODE)
        metadata = materialization.metadata
        run["players_anonymized"] = metadata["players_anonymized"].value
        run["players_deleted"] = metadata["players_deleted"].value
        return run

    def daily_job(self, shift: int, label: str) -> dict:
        """The archive runs the schedule asks for, then the players' privacy and the housekeeping; the
        definitions are loaded before the clock starts (the code location is loaded once, not per run)."""
        definitions = self.definitions(shift)
        partitions = self.partitions(shift)
        archive = definitions.resolve_job_def(ARCHIVE_JOB)

        def runs() -> dict:
            archived = [self._execute(archive, f"{label}-archive-{key}", key)[0] for key in partitions]
            privacy = self.privacy(shift, f"{label}-privacy")
            return {"archive_runs": archived, "privacy_run": privacy,
                    "players_anonymized": privacy["players_anonymized"],
                    "players_deleted": privacy["players_deleted"]}

        return self.bench.timed(runs)


# --- the benchmark ------------------------------------------------------------------------------------------------


def _check_step(bench: Bench, as_of: date, day: date, before: dict) -> dict:
    """After a step: the game-event day left PostgreSQL, its archive verifies with the rows PostgreSQL held, and
    nothing past its retention as of the step's date is left."""
    verification = verify_day(bench.store, GAME_EVENTS, day)
    with _connect(bench.url) as conn:
        left = family_day(conn, GAME_EVENTS, day)
        behind = expired_family_days(conn, as_of, POLICY)
    manifest = verification.manifest
    return {"dropped": left is None, "archive_verified": verification.ok, "archive_rows": verification.rows,
            "parquet_bytes": manifest.bytes if manifest else None,
            "rows_equal": verification.ok and verification.rows == before["rows"],
            "expired_left": [f"{f} {d}" for f, d, _ in behind]}


def _step(j: int, variant: str, bench: Bench, dagster: DagsterDaily, timeline: Timeline) -> dict:
    as_of, day, shift = timeline.as_of(j), timeline.game_day(j), timeline.shift(j)
    with _connect(bench.url) as conn:
        before = family_day(conn, GAME_EVENTS, day)
        system_day = family_day(conn, SYSTEM_EVENTS, as_of - timedelta(days=POLICY.system_events_days + 1))
    if before is None:
        raise RuntimeError(f"raw.events holds no {GAME_EVENTS} table of {day}: the data does not cover the steps")
    out = {"step": j + 1, "variant": variant, "as_of": as_of.isoformat(), "game_day": day.isoformat(),
           "postgres": before, "system_day_rows": system_day["rows"] if system_day else None}
    label = f"s{j + 1}-{variant}"
    if variant == "dagster":
        out["timed"] = dagster.daily_job(shift, label)
    elif variant == "retention_run":
        out["timed"] = bench.timed(lambda: bench.retention_run(as_of))
    else:
        def alone() -> dict:
            outcome = archive_then_drop(bench.url, bench.store, GAME_EVENTS, day)
            return {"outcome": str(outcome.outcome), "rows": outcome.rows, "bytes": outcome.bytes,
                    "mart_rows": outcome.mart_rows}

        out["timed"] = bench.timed(alone)
        out["rest_untimed"] = bench.retention_run(as_of)  # the system-event day, the players, the history
    out["check"] = _check_step(bench, as_of, day, before)
    return out


def _step_line(s: dict) -> str:
    t, c = s["timed"], s["check"]
    anonymized = t.get("players_anonymized", s.get("rest_untimed", {}).get("players_anonymized"))
    ok = "ok" if c["dropped"] and c["rows_equal"] and not c["expired_left"] else "FAILED"
    return (f"step {s['step']} ({s['variant']}, as of {s['as_of']}): {s['postgres']['rows']:,} rows of "
            f"{s['game_day']}, {t['wall_s']} s, {anonymized} players anonymized, Parquet {c['parquet_bytes']:,} bytes "
            f"vs {s['postgres']['table_bytes']:,} in PostgreSQL; {ok}")


def run(plan: RetentionPlan, quick: bool = False, keep_home: bool = False, database_url: str | None = None) -> dict:
    """The whole benchmark on a fresh database (`database_url`: an empty migrated one to use instead)."""
    started = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="monkeytown-bench-retention-"))
    steps = plan.rounds * len(VARIANTS)
    timeline = Timeline(started.date(), steps)
    try:
        with _database(work / "server", database_url) as (url, embedded):
            machine = _describe(url, embedded)
            home = work / "home"
            settings = load_settings({"MONKEYTOWN_HOME": str(home), "MONKEYTOWN_DATABASE_URL": url})
            postgres = cpu.postmaster_pid(url)
            bench = Bench(url, home, settings, open_archive_store(settings.archive_url),
                          anonymization_key(home, os.environ.get(KEY_SETTING) or None),
                          {"bench": os.getpid(), **({"postgres": postgres} if postgres else {})}, work / "dagster.log")
            _progress(f"generating and loading {plan.events:,} events, {timeline.first_day} to {timeline.today} (COPY)")
            data = _prepare(url, plan, timeline, Dbt(url, work))
            _progress("archiving what is already past its retention (untimed): the days before the first step's "
                      "by `retention run`, the last of them by the Dagster jobs (their first runs here)")
            catch_up = bench.timed(lambda: bench.retention_run(timeline.as_of(0) - timedelta(days=2)))
            import_s = definitions_import_seconds()
            dagster = DagsterDaily(bench, timeline.today)
            warm_up = dagster.daily_job(timeline.shift(0) + 1, "warm-up")  # the day before the first step's
            rounds = []
            for r in range(plan.rounds):
                order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]  # each goes first in turn
                done = []
                for k, variant in enumerate(order):
                    done.append(_step(r * len(VARIANTS) + k, variant, bench, dagster, timeline))
                    _progress(_step_line(done[-1]))
                rounds.append({"round": r + 1, "steps": done})
        if keep_home:
            _progress(f"kept: {work} (home/archive, dagster.log, dbt.log)")
    finally:
        if not keep_home:
            shutil.rmtree(work, ignore_errors=True)
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    raw = {"rounds": rounds, "catch_up": catch_up, "warm_up": warm_up, "definitions_import_s": import_s,
           "checkpoints": bench.checkpoints}
    return {"benchmark": "retention", "started_at": started.isoformat(timespec="seconds"),
            "mode": "quick" if quick else "full", "seconds": round((datetime.now(UTC) - started).total_seconds()),
            "machine": machine, "plan": asdict(plan), "policy": asdict(POLICY), "data": data,
            "summary": summarize(raw), "raw": raw}


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(args) -> int:
    """`monkeytown bench --retention` with bench/run.py's parsed options."""
    plan = QUICK if args.quick else RetentionPlan()
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    if args.events:
        plan = replace(plan, events=args.events)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        result = run(plan, args.quick, args.keep_home)
    except KeyboardInterrupt:
        print("monkeytown bench: interrupted; the database is stopped", file=sys.stderr)
        return 130
    text = markdown(result)
    json_path, md_path = write_reports(result, text, args.out, "retention")
    print(text)
    print(f"wrote {json_path} and {md_path}")
    if not result["summary"]["checks"]["passed"]:
        print(f"monkeytown bench: A STEP DID NOT ARCHIVE AND DROP ITS DAY: {result['summary']['checks']['failed']}",
              file=sys.stderr)
        return 1
    return 0
