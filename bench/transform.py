"""`monkeytown bench --transform [--quick]`: what the dbt models cost on a month of events: a full refresh
against an incremental run over one hour of new data, side by side in every round; dbt's parsing; Dagster's
own overhead on top of dbt; and a correctness guard (incremental result == full refresh of the same data)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import psycopg

from bench import cpu, traffic
from bench.dbt_runs import Dbt, kind_totals, summarize_run_results
from bench.machine import _cpu_model, _memory_gib, code_version
from bench.report import write_reports
from bench.transform_report import markdown, summarize
from ingest_api import migrate
from monkeytown.database import scratch_database
from orchestration.dbt.project import SCHEDULED_BUILD
from orchestration.quality.checks import RAW_WATERMARK, advance_watermark
from orchestration.quality.mart_rules import MART_SUITES

#: Fresh hours of arrivals each round lands: one before each incremental invocation (dbt run, dbt build, the
#: Dagster run of the core models, the direct dbt build of the same selection).
HOURS_PER_ROUND = 4
#: Where a change moves the figures: the commit is reported with any uncommitted change under these.
CODE_PATHS = ("dbt_project", "orchestration")
#: What the Dagster job refresh_core_models selects (orchestration/dbt/assets.py: core_models).
CORE_SELECTION = ("--exclude", "tag:rollup", "tag:dashboard")
#: A full refresh of every mart: the entity marts keep their history through a plain --full-refresh (retention
#: drops raw events they were built from), so only with rebuild_history do they rebuild from raw.events.
FULL_REFRESH = ("--full-refresh",)
REBUILD_HISTORY = {"rebuild_history": True}
#: The entity marts the guard compares, with the key that orders their rows.
GUARDED_MARTS = {"games": "game_id", "moves": "event_id", "players": "player_id", "agent_runs": "run_id",
                 "system_events": "event_id"}


@dataclass(frozen=True)
class TransformPlan:
    events: int = 1_000_000
    days: int = 30
    rounds: int = 3
    seed: int = 1129


QUICK = TransformPlan(events=100_000, rounds=2)


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the database -------------------------------------------------------------------------------------


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC")


def _checkpoint(url: str) -> bool:
    """A CHECKPOINT before a timed invocation, so one's dirty pages are not flushed on the next one's clock
    (False where the role may not: then the figures carry that noise)."""
    try:
        with _connect(url) as conn:
            conn.execute("CHECKPOINT")
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def _analyze_marts(url: str) -> None:
    """Statistics for the tables a full refresh just created, as autovacuum would give them within a minute;
    the incremental runs that follow plan with them."""
    with _connect(url) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'marts' AND c.relkind IN ('r', 'm')")]
        for name in names:
            conn.execute(f"ANALYZE {name}")


def checksums(url: str) -> dict[str, dict]:
    """Rows and an md5 over every column of every row (in key order) of each guarded mart."""
    sums = {}
    with _connect(url) as conn:
        for name, key in GUARDED_MARTS.items():
            rows, digest = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY t.{key}), ''))"
                f" FROM marts.{name} AS t").fetchone()
            sums[name] = {"rows": rows, "md5": digest}
    return sums


def _compare(label: str, incremental: dict, full: dict) -> dict:
    differing = sorted(name for name in GUARDED_MARTS if incremental[name] != full[name])
    return {"label": label, "equal": not differing, "differing": differing, "incremental": incremental,
            "full_refresh": full}


def _mart_counts(url: str) -> dict[str, int]:
    with _connect(url) as conn:
        counts = {name: conn.execute(f"SELECT count(*) FROM marts.{name}").fetchone()[0]
                  for name in ("games", "moves", "players", "agent_runs", "system_events")}
        counts["abandoned_games"] = conn.execute("SELECT count(*) FROM marts.games WHERE is_abandoned").fetchone()[0]
        counts["anonymous_players"] = conn.execute(
            "SELECT count(*) FROM marts.players WHERE is_anonymous").fetchone()[0]
        counts["players_with_several_games"] = conn.execute(
            "SELECT count(*) FROM marts.players WHERE games_played > 1").fetchone()[0]
    return counts


@contextlib.contextmanager
def _database(home: Path, database_url: str | None) -> Iterator[tuple[str, bool]]:
    """The given (fresh, migrated) database, or a fresh one as the ingest benchmark makes it: an embedded
    server in `home`, or a scratch database on MONKEYTOWN_DATABASE_URL."""
    if database_url:
        yield database_url, False
        return
    with scratch_database(home, os.environ.get("MONKEYTOWN_DATABASE_URL"), prefix="monkeytown_bench") as (
            url, embedded):
        migrate.upgrade(url)
        yield url, embedded


# --- measuring --------------------------------------------------------------------------------------------


class Measure:
    """Runs and times dbt (and Dagster) invocations, with the CPU each process tree used meanwhile."""

    def __init__(self, url: str, work: Path):
        self.url, self.work = url, work
        self.dbt = Dbt(url, work)
        postgres = cpu.postmaster_pid(url)
        self.roots = {"bench": os.getpid(), **({"postgres": postgres} if postgres else {})}
        self.checkpoints = True

    def _timed(self, run: Callable[[], dict]) -> dict:
        self.checkpoints &= _checkpoint(self.url)
        before = cpu.snapshot(self.roots)
        result = run()
        usage = cpu.usage(before, cpu.snapshot(self.roots))
        usage.pop("api_workers", None)
        return {**result, "cores": usage}

    def dbt_run(self, label: str, *args: str, extra_vars: dict | None = None) -> dict:
        return self._timed(lambda: self.dbt(label, *args, extra_vars=extra_vars))

    def dagster(self, label: str, dagster: DagsterCore | DagsterUnavailable) -> dict:
        """The Dagster run's figures, or {"error": ...} where the project's orchestration could not be loaded or
        the run failed (the rest of the benchmark goes on; the report says so)."""
        if isinstance(dagster, DagsterUnavailable):
            return {"label": label, "error": dagster.error}
        try:
            return self._timed(lambda: dagster.run(label))
        except Exception as error:  # the orchestration may be mid-change: reported
            return {"label": label, "error": f"{type(error).__name__}: {error}"}


@dataclass(frozen=True)
class DagsterUnavailable:
    error: str
    import_s: float = float("nan")


def load_dagster(dbt: Dbt, url: str, time_import: bool = True) -> DagsterCore | DagsterUnavailable:
    try:
        return DagsterCore(dbt, url, time_import)
    except Exception as error:  # reported; the dbt figures are still worth having
        return DagsterUnavailable(f"importing orchestration.definitions failed: {type(error).__name__}: {error}")


def definitions_import_seconds() -> float:
    """What importing the code location costs a fresh process (each run the daemon launches pays it), timed
    in a subprocess: in this one it may be imported already."""
    probe = ("import time; started = time.perf_counter(); import orchestration.definitions; "
             "print(time.perf_counter() - started)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return round(float(done.stdout.strip().splitlines()[-1]), 3)


class DagsterCore:
    """refresh_core_models executed in process, as `monkeytown pipeline` does: the environment it sets in
    os.environ (orchestration.environment.dagster_environment, with the benchmark's dbt target), an
    ephemeral instance, Dagster's and dbt's output to a log. dagster-dbt gives each dbt invocation a target
    directory of its own under DBT_TARGET_PATH (here the benchmark's target, whose partial_parse.msgpack it
    copies first) and writes run_results.json there: <target>/<op name>-<run id[:7]>-<uuid[:7]>/."""

    def __init__(self, dbt: Dbt, url: str, time_import: bool = True):
        self.dbt = dbt
        self.import_s = definitions_import_seconds() if time_import else float("nan")
        # here, after timing the import in a fresh process above, so the figures include no import by this one
        import dagster as dg

        from orchestration.definitions import defs
        from orchestration.environment import dagster_environment

        self.dg = dg
        self.log = dbt.work / "dagster.log"
        self.env = dict(dbt.env) | dagster_environment(url, dbt.work)
        with self._environment():  # the code location reads its database from the settings as it loads
            self.job = defs().resolve_job_def("refresh_core_models")
        self.instance = dg.DagsterInstance.ephemeral()

    @contextlib.contextmanager
    def _environment(self) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _step_seconds(self, run_id: str) -> dict[str, float]:
        """Each step's time from its STEP_START to its STEP_SUCCESS (or failure), from the run's event log."""
        started, seconds = {}, {}
        types = self.dg.DagsterEventType
        for entry in self.instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type == types.STEP_START:
                started[event.step_key] = entry.timestamp
            elif event.event_type in (types.STEP_SUCCESS, types.STEP_FAILURE) and event.step_key in started:
                seconds[event.step_key] = round(entry.timestamp - started[event.step_key], 3)
        return seconds

    def run(self, label: str) -> dict:
        with self._environment(), self.log.open("a") as log:
            log.write(f"\n===== {label}\n")
            log.flush()
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                started = time.perf_counter()
                result = self.job.execute_in_process(instance=self.instance, raise_on_error=False)
                wall = time.perf_counter() - started
        if not result.success:
            failed = [e.step_key for e in result.all_events if e.is_step_failure]
            raise RuntimeError(f"the Dagster run {label} failed ({failed}); see {self.log}")
        found = sorted(self.dbt.target.glob(f"*-{result.run_id[:7]}-*/run_results.json"))
        if not found:
            raise RuntimeError(f"no run_results.json of Dagster run {result.run_id} under {self.dbt.target}")
        invocations = []
        for path in found:
            kept = self.dbt.saved / f"dagster-{label}-{path.parent.name}.json"
            shutil.copyfile(path, kept)
            invocations.append({"target": path.parent.name, **summarize_run_results(kept)})
        nodes = {uid: node for i in invocations for uid, node in i["nodes"].items()}
        return {"label": label, "wall_s": round(wall, 3),
                "elapsed_s": round(sum(i["elapsed_s"] for i in invocations), 3),
                "dbt_invocations": [{k: v for k, v in i.items() if k != "nodes"} for i in invocations],
                "nodes": nodes, **kind_totals(nodes), "steps": self._step_seconds(result.run_id),
                "materialized": len(result.get_asset_materialization_events())}


# --- the benchmark --------------------------------------------------------------------------------------------


def _describe(url: str, embedded: bool) -> dict:
    with _connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN ('shared_buffers', "
            "'work_mem', 'maintenance_work_mem', 'effective_cache_size', 'max_parallel_workers_per_gather', "
            "'jit', 'synchronous_commit', 'fsync', 'random_page_cost')").fetchall())
    packages = {name: metadata.version(name) for name in ("dbt-core", "dbt-postgres", "dagster", "dagster-dbt")}
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
        "kernel": os.uname().release, "python": sys.version.split()[0],
        "postgresql": version + (" (embedded)" if embedded else " (given database)"),
        "postgresql_settings": settings, "packages": packages, "dbt_threads": 2,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "code": code_version(*CODE_PATHS),
    }


def _late_events(url: str, since: datetime) -> int:
    """Events that arrived after `since` but happened more than an hour before they arrived."""
    with _connect(url) as conn:
        return conn.execute("SELECT count(*) FROM raw.events WHERE received_at >= %s"
                            " AND occurred_at < received_at - interval '1 hour'", (since,)).fetchone()[0]


def _prepare(url: str, plan: TransformPlan, now: datetime) -> tuple[traffic.Loaded, dict]:
    hours = plan.rounds * HOURS_PER_ROUND
    first_hour = now - timedelta(hours=hours)
    start = first_hour - timedelta(days=plan.days)
    generated = traffic.Traffic(plan.seed, start, now, plan.events / plan.days)
    traffic.ensure_partitions(url, start.date() - timedelta(days=1), now.date() + timedelta(days=1))
    started = time.perf_counter()
    loaded = traffic.load(url, generated, first_hour, hours)
    load_s = time.perf_counter() - started
    with _connect(url) as conn:
        conn.execute("VACUUM ANALYZE raw.events, raw.event_ids, raw.ingest_errors")
    return loaded, {
        "events": loaded.events, "events_by_type": loaded.counts_by_type, "ingest_errors": loaded.errors,
        "days": plan.days, "from": start.isoformat(timespec="seconds"),
        "first_hour": first_hour.isoformat(timespec="seconds"), "load_s": round(load_s, 1),
    }


def _steady_state(m: Measure, rebuild: bool = False, label: str = "setup-build") -> dict:
    """The month as a running platform holds it (untimed): built, its dbt tests passed once over every row (so an
    incremental build's tests read what changed since, as they do in production), and its quality suites'
    watermarks at its newest arrival. Every row came through the door's rules, so the raw suite would pass them;
    what a complete validation costs is bench.quality's subject. `rebuild`: marts built before rows older than
    their newest arrival were loaded (bench/growth.py), which only a full refresh with rebuild_history reads."""
    if rebuild:
        build = m.dbt(label, *SCHEDULED_BUILD, *FULL_REFRESH, extra_vars=REBUILD_HISTORY)
    else:
        build = m.dbt(label, *SCHEDULED_BUILD)
    with _connect(m.url) as conn:
        through = conn.execute("SELECT max(received_at) FROM raw.events").fetchone()[0]
    for name in (RAW_WATERMARK, *(suite.watermark for suite in MART_SUITES)):
        advance_watermark(m.url, name, through)
    return {"build_s": build["wall_s"], "validated_through": through.isoformat(timespec="seconds")}


def _round(r: int, plan: TransformPlan, m: Measure, dagster: DagsterCore | DagsterUnavailable,
           hours: list[traffic.Hour]) -> dict:
    """One round: parsing cold and warm; a full `dbt run`, then four incremental invocations on a fresh hour
    each (`dbt run`, `dbt build`, and the core models through Dagster and through `dbt build`); then a full
    `dbt build`, compared first with the incremental state (the guard)."""
    url, out, label = m.url, {"round": r + 1, "hours": []}, f"r{r + 1}"

    def hour() -> None:
        out["hours"].append(traffic.land_hour(url, hours.pop(0)))

    _progress(f"round {r + 1}/{plan.rounds}: dbt parse, cold and warm")
    out["cold_parse"] = m.dbt_run(f"{label}-cold-parse", "parse", "--no-partial-parse")
    out["warm_parse"] = m.dbt_run(f"{label}-warm-parse", "parse")

    _progress(f"round {r + 1}/{plan.rounds}: dbt run --full-refresh, then dbt run and dbt build on an hour each")
    out["full_run"] = m.dbt_run(f"{label}-full-run", "run", *FULL_REFRESH, extra_vars=REBUILD_HISTORY)
    _analyze_marts(url)
    m.dbt(f"{label}-parse-again", "parse")  # untimed: the vars above made dbt parse anew; the platform's runs never
    # change vars, so their partial parse is warm
    hour()
    out["incremental_run"] = m.dbt_run(f"{label}-incremental-run", "run")
    hour()
    out["incremental_build"] = m.dbt_run(f"{label}-incremental-build", *SCHEDULED_BUILD)

    # Dagster against the same dbt build invoked directly, each on a fresh hour, in alternating order
    _progress(f"round {r + 1}/{plan.rounds}: the core models through Dagster and through dbt build")
    sides = [("dagster", lambda: m.dagster(f"{label}-dagster", dagster)),
             ("direct_core_build", lambda: m.dbt_run(f"{label}-direct-core-build", *SCHEDULED_BUILD, *CORE_SELECTION))]
    for name, side in (sides if r % 2 == 0 else reversed(sides)):
        hour()
        out[name] = side()

    incremental = checksums(url)
    _progress(f"round {r + 1}/{plan.rounds}: dbt build --full-refresh, and the guard")
    out["full_build"] = m.dbt_run(f"{label}-full-build", *SCHEDULED_BUILD, *FULL_REFRESH,
                                  extra_vars=REBUILD_HISTORY)
    out["guard"] = _compare(f"round {r + 1}: after its four incremental invocations vs dbt build --full-refresh",
                            incremental, checksums(url))
    return out


def run(plan: TransformPlan, quick: bool = False, keep_home: bool = False, database_url: str | None = None) -> dict:
    """The whole benchmark on a fresh database (`database_url`: an empty migrated one to use instead)."""
    started = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="monkeytown-bench-transform-"))
    try:
        with _database(home, database_url) as (url, embedded):
            machine = _describe(url, embedded)
            m = Measure(url, home)
            _progress("importing orchestration.definitions (Dagster)")
            dagster = load_dagster(m.dbt, url)
            now = datetime.now(UTC).replace(microsecond=0)
            _progress(f"generating and loading {plan.events:,} events over {plan.days} days (COPY)")
            loaded, data = _prepare(url, plan, now)
            _progress(f"loaded {data['events']:,} events and {data['ingest_errors']:,} ingest errors in "
                      f"{data['load_s']} s; hours after it: {[h.events for h in loaded.hours]} events")
            if isinstance(dagster, DagsterUnavailable):
                _progress(f"Dagster is not measured: {dagster.error}")
            _progress("building and testing the month once, untimed, as a running platform holds it")
            data["steady_state"] = _steady_state(m)
            hours, rounds = list(loaded.hours), []
            for r in range(plan.rounds):
                rounds.append(_round(r, plan, m, dagster, hours))
                _progress(_round_line(rounds[-1]))
            data["late_events_in_hours"] = _late_events(url, loaded.hours[0].start)
            data["marts"] = _mart_counts(url)
            data["hours"] = [h for r in rounds for h in r["hours"]]
        if keep_home:
            _progress(f"kept: {home} (run_results/, dbt.log, dagster.log, target/)")
    finally:
        if not keep_home:
            shutil.rmtree(home, ignore_errors=True)
    raw = {"rounds": rounds, "guards": [r["guard"] for r in rounds], "dagster_import_s": dagster.import_s,
           "checkpoints": m.checkpoints}
    return {"benchmark": "transform", "started_at": started.isoformat(timespec="seconds"),
            "mode": "quick" if quick else "full", "seconds": round((datetime.now(UTC) - started).total_seconds()),
            "machine": machine, "plan": asdict(plan), "data": data, "summary": summarize(raw), "raw": raw}


def _round_line(r: dict) -> str:
    return (f"round {r['round']}: run full {r['full_run']['wall_s']} s / 1 h {r['incremental_run']['wall_s']} s, "
            f"build full {r['full_build']['wall_s']} s / 1 h {r['incremental_build']['wall_s']} s, "
            f"Dagster {r['dagster'].get('wall_s', 'failed')} s vs dbt {r['direct_core_build']['wall_s']} s, "
            f"parse cold {r['cold_parse']['wall_s']} s / warm {r['warm_parse']['wall_s']} s, "
            f"guard {'ok' if r['guard']['equal'] else 'DIFFERS'}")


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(args) -> int:
    """`monkeytown bench --transform` with bench/run.py's parsed options."""
    plan = QUICK if args.quick else TransformPlan()
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
    json_path, md_path = write_reports(result, text, args.out, "transform")
    print(text)
    print(f"wrote {json_path} and {md_path}")
    guard = result["summary"]["guard"]
    if not guard["passed"]:
        print(f"monkeytown bench: THE INCREMENTAL MARTS DIFFER FROM A FULL REFRESH: {', '.join(guard['differing'])}",
              file=sys.stderr)
        return 1
    return 0
