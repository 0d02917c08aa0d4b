"""`python -m bench.growth [--sizes 1000000,10000000,30000000]`: how cost grows with the events already in
raw.events (issue 13, goal 6). One database, grown step by step: at each size, batch rows/s through the API and the
single-event p99 at 500 events/s offered (the table kept, never truncated), the incremental core run over one hour
of new data through Dagster beside the same selection as a direct `dbt build`, and the slowest dashboard statement.
Goal: nothing on the ingest path slows down as the table grows (the id ledger raw.event_ids, the partitions)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

from bench import dashboard, events, ingest, traffic
from bench.growth_report import markdown, summarize
from bench.machine import code_version, describe
from bench.report import write_reports
from bench.stack import HOST, WRITE_KEY, Stack, running_stack
from bench.transform import CODE_PATHS, CORE_SELECTION, Measure, _analyze_marts, _steady_state, load_dagster
from orchestration.dbt.project import SCHEDULED_BUILD

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: Hours landed per round before the incremental invocations: one for the Dagster run, one for the direct build.
HOURS_PER_ROUND = 2
#: The untimed batches (rows) and single events (seconds) before the ingest rounds of each size.
WARM_UP_ROWS, WARM_UP_SECONDS = 4000, 2.0
#: Traffic generated before the first landed hour, so that hour holds games already under way, as any hour does.
LEAD_IN_HOURS = 3


@dataclass(frozen=True)
class GrowthPlan:
    sizes: tuple[int, ...] = (1_000_000, 10_000_000, 30_000_000)
    rounds: int = 3
    days: int = 30
    batch_rows: int = 40_000
    batch_connections: int = 4
    open_rate: int = 500
    open_seconds: float = 10.0
    open_connections: int = 32
    seed: int = 1129


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC")


def step_seed(base: int, n: int) -> int:
    """The n-th traffic's seed, five digits: the simulator's session and game ids are 'b<seed><hex counter>', so
    two seeds of one length never make the same id (1 and 12 would: b1 + '2a' is b12 + 'a')."""
    return 10_000 + 1000 * n + base % 1000


# --- the table --------------------------------------------------------------------------------------------


def table_sizes(url: str) -> dict:
    """Rows and bytes of raw.events (every partition: heap, TOAST and indexes) and of the id ledger."""
    with _connect(url) as conn:
        events_rows = conn.execute("SELECT count(*) FROM raw.events").fetchone()[0]
        partitions, events_bytes, events_index_bytes = conn.execute(
            "SELECT count(*), coalesce(sum(pg_total_relation_size(relid)), 0)::bigint,"
            " coalesce(sum(pg_indexes_size(relid)), 0)::bigint"
            " FROM pg_partition_tree('raw.events') WHERE isleaf").fetchone()
        ledger_rows = conn.execute("SELECT count(*) FROM raw.event_ids").fetchone()[0]
        ledger_bytes, ledger_index_bytes = conn.execute(
            "SELECT pg_total_relation_size('raw.event_ids'), pg_indexes_size('raw.event_ids')").fetchone()
        shared_buffers = conn.execute(
            "SELECT pg_size_bytes(current_setting('shared_buffers'))").fetchone()[0]
    return {"events_rows": events_rows, "events_bytes": events_bytes, "events_index_bytes": events_index_bytes,
            "leaf_partitions": partitions, "ledger_rows": ledger_rows, "ledger_bytes": ledger_bytes,
            "ledger_index_bytes": ledger_index_bytes, "shared_buffers_bytes": shared_buffers}


def _grow(url: str, target: int, plan: GrowthPlan, n: int) -> dict:
    """COPYs the month's traffic of a seed of its own (no id of it is already there) until raw.events holds about
    `target` rows; its days are the month before now, so the day partitions grow."""
    with _connect(url) as conn:
        held = conn.execute("SELECT count(*) FROM raw.events").fetchone()[0]
    if target <= held:
        return {"events": 0, "ingest_errors": 0, "load_s": 0.0, "held_before": held}
    loaded = dashboard.load_events(url, target - held, plan.days, step_seed(plan.seed, 2 * n))
    return {**loaded, "held_before": held}


# --- the ingest path --------------------------------------------------------------------------------------


def fresh_events(count: int, tag: str) -> list[dict]:
    """bench.events' games, each event_id random (uuid4) as most clients choose them: each lands on a random page
    of the ledger's index, the case in which a growing ledger would cost most. Timestamped the last `count`
    milliseconds, one apart in order, and without sent_at: these games reach the marts and their quality suites,
    and a skew correction by arrival (concurrent requests arrive out of order) would end some before they start."""
    now = datetime.now(UTC)
    return [{**{key: value for key, value in event.items() if key != "sent_at"}, "event_id": uuid.uuid4().hex,
             "timestamp": events._rfc3339(now - timedelta(milliseconds=count - i))}
            for i, event in enumerate(events.game_events(count, tag))]


def _batch(stack: Stack, roots: dict, plan: GrowthPlan, tag: str) -> dict:
    posted = fresh_events(plan.batch_rows, tag)
    return ingest.http_batch_side(stack, roots, posted, plan.batch_connections, keep_rows=True)


def _open_loop(stack: Stack, roots: dict, plan: GrowthPlan, tag: str) -> dict:
    posted = fresh_events(int(plan.open_rate * plan.open_seconds), tag)
    requests = [events.post_request(HOST, stack.api.port, WRITE_KEY, orjson.dumps(event)) for event in posted]
    ingest.reset(stack.database_url, keep_rows=True)
    result = ingest.open_loop_side(stack, roots, requests, plan.open_rate, plan.open_connections)
    return {**result, "rows_stored": ingest._rows_stored(stack.database_url, posted)}


def measure_ingest(stack: Stack, plan: GrowthPlan, step: int) -> dict:
    """Batches then single events, every round, on fresh ids, after an untimed round of each (the workers' pools
    and caches warm again after the loads and builds); the table keeps every row."""
    roots = stack.cpu_roots()
    _batch(stack, roots, replace(plan, batch_rows=WARM_UP_ROWS), f"s{step}-warm-b")
    _open_loop(stack, roots, replace(plan, open_seconds=WARM_UP_SECONDS), f"s{step}-warm-o")
    batches, singles = [], []
    for r in range(plan.rounds):
        batches.append(_batch(stack, roots, plan, f"s{step}-b{r}"))
        singles.append(_open_loop(stack, roots, plan, f"s{step}-o{r}"))
        _progress(f"  ingest round {r + 1}/{plan.rounds}: batches {batches[-1]['rows_per_s']:,} rows/s, single "
                  f"events at {plan.open_rate}/s p99 {singles[-1]['latency_ms'].get('p99')} ms "
                  f"({singles[-1]['errors']} errors)")
    return {"batch": batches, "open_loop": singles}


# --- the incremental core run ---------------------------------------------------------------------------


def _hours(url: str, plan: GrowthPlan, size: int, step: int, clock: datetime | None) -> tuple[list, dict]:
    """The hours to land, after every arrival already there (the incremental models pick up from their newest
    arrival): from now, or from the end of the last step's hours if those lie ahead of now. The lead-in before them
    goes in by COPY now, so the rebuild that follows holds it. Traffic at this size's rate, of a seed of its own."""
    count = plan.rounds * HOURS_PER_ROUND
    first = max(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1), clock or datetime.min.replace(
        tzinfo=UTC))
    start, end = first - timedelta(hours=LEAD_IN_HOURS), first + timedelta(hours=count)
    traffic.ensure_partitions(url, start.date() - timedelta(days=1), end.date() + timedelta(days=1))
    generated = traffic.Traffic(step_seed(plan.seed, 2 * step + 1), start, end, size / plan.days)
    loaded = traffic.load(url, generated, first, count)
    return loaded.hours, {"first_hour": first.isoformat(timespec="seconds"), "lead_in_events": loaded.events,
                          "end": end}


@contextlib.contextmanager
def _interrupts_kept() -> Iterator[None]:
    """Dagster only marks a Ctrl-C or SIGTERM that comes during its run, and clears the mark when the run ends; the
    signal's byte on a wakeup fd outlasts it, so the benchmark stops as soon as the run returns."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous, seen = signal.set_wakeup_fd(write), b""
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        with contextlib.suppress(BlockingIOError):
            seen = os.read(read, 512)
        os.close(read)
        os.close(write)
    if {signal.SIGINT, signal.SIGTERM} & set(seen):
        raise KeyboardInterrupt


def _dagster_run(m: Measure, dagster, label: str) -> dict:
    with _interrupts_kept():
        return m.dagster(label, dagster)


def measure_incremental(m: Measure, dagster, hours: list, rounds: int, step: int) -> list[dict]:
    """Per round: land an hour, the Dagster job refresh_core_models; land an hour, the same selection as one direct
    `dbt build`; the two in alternating order, as the transform benchmark runs them."""
    out = []
    for r in range(rounds):
        sides = [("dagster", lambda label: _dagster_run(m, dagster, label)),
                 ("direct_core_build", lambda label: m.dbt_run(label, *SCHEDULED_BUILD, *CORE_SELECTION))]
        measured = {}
        for name, side in (sides if r % 2 == 0 else reversed(sides)):
            landed = traffic.land_hour(m.url, hours.pop(0))
            measured[name] = {**side(f"s{step}-r{r + 1}-{name}"), "hour": landed}
        out.append({"round": r + 1, "order": list(measured), **measured})
        _progress(f"  core run round {r + 1}/{rounds}: Dagster {measured['dagster'].get('wall_s', 'failed')} s, "
                  f"direct dbt build {measured['direct_core_build']['wall_s']} s "
                  f"({measured['dagster']['hour']['events']:,} and {measured['direct_core_build']['hour']['events']:,}"
                  " events landed)")
    return out


# --- one size -----------------------------------------------------------------------------------------------


def _step(stack: Stack, m: Measure, dagster, plan: GrowthPlan, step: int, size: int, clock: datetime | None,
          filled: dict) -> tuple[dict, datetime]:
    url = stack.database_url
    _progress(f"size {size:,}: loading the month's traffic up to it (COPY)")
    grown = _grow(url, size, plan, step)
    _progress(f"size {size:,}: loaded {grown['events']:,} events in {grown['load_s']} s; the ingest path")
    before = table_sizes(url)
    ingest_figures = measure_ingest(stack, plan, step)
    hours, lead_in = _hours(url, plan, size, step, clock)
    _progress(f"size {size:,}: rebuilding the marts and their tests' and suites' watermarks (untimed)")
    steady = _steady_state(m, rebuild=True, label=f"s{step}-rebuild")
    _analyze_marts(url)
    if not filled:
        filled.update(monitoring=dashboard.fill_monitoring(url), live=dashboard.fill_live(url))
    _progress(f"size {size:,}: the incremental core run, {plan.rounds} round(s)")
    incremental = measure_incremental(m, dagster, hours, plan.rounds, step)
    _progress(f"size {size:,}: the dashboard's statements (EXPLAIN ANALYZE)")
    statements = dashboard.statement_costs(url)
    after = table_sizes(url)
    return {"size": size, "grown": grown, "table": before, "table_after": after, "ingest": ingest_figures,
            "lead_in": {k: v for k, v in lead_in.items() if k != "end"}, "steady_state": steady,
            "incremental": incremental, "statements": statements}, lead_in["end"]


def run(plan: GrowthPlan, keep_home: bool = False) -> dict:
    started = datetime.now(UTC)
    _progress("starting PostgreSQL and the API")
    with running_stack(keep_home, hellos=False) as stack:
        machine = describe(stack.database_url, stack.embedded) | {"code": code_version(*CODE_PATHS)}
        m = Measure(stack.database_url, stack.home / "transform")
        _progress("importing orchestration.definitions (Dagster)")
        dagster = load_dagster(m.dbt, stack.database_url, time_import=False)
        steps, clock, filled = [], None, {}
        for step, size in enumerate(plan.sizes):
            result, clock = _step(stack, m, dagster, plan, step, size, clock, filled)
            steps.append(result)
        if keep_home:
            _progress(f"kept: {stack.home} (api.log, transform/: run_results, dbt.log, dagster.log)")
    raw = {"steps": steps, "filled": filled, "checkpoints": m.checkpoints}
    return {"benchmark": "growth", "started_at": started.isoformat(timespec="seconds"),
            "seconds": round((datetime.now(UTC) - started).total_seconds()), "machine": machine,
            "plan": asdict(plan), "summary": summarize(raw), "raw": raw}


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part.replace("_", "")) for part in text.split(","))
    if not sizes or any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)) or sizes[0] <= 0:
        raise argparse.ArgumentTypeError("sizes must be positive and increasing, e.g. 1000000,10000000,30000000")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=GrowthPlan.sizes,
                        help="events in raw.events at each step, increasing (default 1000000,10000000,30000000)")
    parser.add_argument("--rounds", type=int, default=GrowthPlan.rounds, help="rounds at each size (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep-home", action="store_true")
    args = parser.parse_args(argv)
    plan = replace(GrowthPlan(), sizes=args.sizes, rounds=args.rounds)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        result = run(plan, args.keep_home)
    except KeyboardInterrupt:
        print("bench.growth: interrupted; the API and the database are stopped", file=sys.stderr)
        return 130
    text = markdown(result)
    json_path, md_path = write_reports(result, text, args.out, "growth")
    print(text)
    _progress(f"wrote {md_path} and {json_path.name}")
    if not result["summary"]["guard"]["passed"]:
        print(f"bench.growth: GUARD FAILED: {result['summary']['guard']['detail']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
