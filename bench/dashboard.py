"""`python -m bench.dashboard [--events N]`: what the dashboard costs over HTTP on marts built from N events (default
10 million, over 30 days, the transform benchmark's traffic): a full refresh of every panel (GET /dashboard/panels
and GET /api/counters side by side, as the page sends them), each panel alone, each read endpoint, and what each
read endpoint's statement costs in PostgreSQL (EXPLAIN ANALYZE: time and buffers). The monitoring tables get a
month of measurements, one a minute per metric, as the Dagster monitoring assets would leave them.

Goal (QUALITY.md): a full dashboard refresh p95 <= 200 ms at 10 million events."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import psycopg
import requests

from bench import traffic
from bench.dbt_runs import Dbt
from bench.machine import _cpu_model, _memory_gib
from bench.report import write_reports
from bench.stack import HOST, WRITE_KEY, running_stack
from bench.stats import median, percentile
from ingest_api.counters import HOUR, IN_PROGRESS_WINDOW, MINUTE, ONLINE_WINDOW
from ingest_api.stats import METRICS

RESULTS_DIR = Path(__file__).resolve().parent / "results"
AUTH = {"Authorization": f"Bearer {WRITE_KEY}"}
ENDPOINTS = ["/api/counters", "/api/stats/games/hourly", "/api/stats/games/daily", "/api/stats/games/types",
             "/api/stats/leaderboard", "/api/stats/retention", "/api/stats/agents", "/api/stats/errors",
             "/api/stats/pipeline", "/dashboard/panels"]
#: The read endpoints' statements with the parameters the endpoints use by default.
STATEMENTS = {"games_hourly": {"hours": 48}, "games_daily": {"days": 30}, "game_types": {},
              "leaderboard": {"limit": 10}, "retention": {"days": 30}, "agent_activity": {"days": 30},
              "ingest_errors": {"days": 30}, "freshness": {}, "checks": {}, "recent_runs": {"limit": 10},
              "latest_measurements": {"metrics": list(METRICS)}, "storage": {"days": 7},
              "counters": {"minute": MINUTE, "hour": HOUR, "online": ONLINE_WINDOW, "in_progress": IN_PROGRESS_WINDOW}}
MARTS = ("games", "moves", "players", "game_activity_hourly", "game_activity_daily", "game_type_overview",
         "leaderboard", "retention_cohorts", "agent_activity_daily", "ingest_errors_daily")
WARM_UP = 20


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC")


def load_events(url: str, events: int, days: int, seed: int) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=days)
    generated = traffic.Traffic(seed, start, now, events / days)
    traffic.ensure_partitions(url, start.date() - timedelta(days=1), now.date() + timedelta(days=1))
    started = time.perf_counter()
    loaded = traffic.load(url, generated, now, 0)
    with _connect(url) as conn:
        conn.execute("VACUUM ANALYZE raw.events, raw.event_ids, raw.ingest_errors")
    return {"events": loaded.events, "ingest_errors": loaded.errors, "by_type": loaded.counts_by_type,
            "days": days, "load_s": round(time.perf_counter() - started, 1)}


def build_marts(url: str, work: Path) -> dict:
    """`dbt run` (every model, no tests), then statistics for what it created, as autovacuum would give them."""
    outcome = Dbt(url, work)("full-run", "run")
    with _connect(url) as conn:
        for (name,) in conn.execute("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace"
                                    " n ON n.oid = c.relnamespace WHERE n.nspname = 'marts' AND c.relkind IN "
                                    "('r', 'm')").fetchall():
            conn.execute(f"ANALYZE {name}")
        rows = {mart: conn.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()[0] for mart in MARTS}
    return {"dbt_run_wall_s": outcome["wall_s"], "rows": rows}


def fill_monitoring(url: str, days: int = 30) -> dict:
    """A month of one measurement a minute per metric, 60 checks, 40 assets, 50 runs."""
    with _connect(url) as conn:
        conn.execute("""
            INSERT INTO monitoring.measurements (metric, measured_at, value)
            SELECT metric, minute,
                   CASE metric WHEN 'storage_bytes' THEN 2e9 + extract(epoch from minute - %(start)s) * 40
                               WHEN 'error_rate' THEN 0.004 ELSE random() * 100 END
            FROM unnest(%(metrics)s::text[]) AS metric,
                 generate_series(%(start)s, now(), interval '1 minute') AS minute""",
                     {"metrics": list(METRICS), "start": datetime.now(UTC) - timedelta(days=days)})
        conn.execute("""
            INSERT INTO monitoring.latest_checks
            SELECT 'asset_' || (n / 3), 'check_' || n, n % 7 <> 0, CASE WHEN n % 2 = 0 THEN 'ERROR' ELSE 'WARN' END,
                   'a check of the benchmark', now() - n * interval '1 minute', 'run-' || n
            FROM generate_series(1, 60) AS n""")
        conn.execute("""
            INSERT INTO monitoring.latest_materializations
            SELECT 'marts/model_' || n, now() - n * interval '3 minutes', 'run-' || n
            FROM generate_series(1, 40) AS n""")
        conn.execute("""
            INSERT INTO monitoring.recent_runs
            SELECT 'run-' || n, 'refresh_core_models', CASE WHEN n % 10 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END,
                   now() - n * interval '1 minute', now() - n * interval '1 minute' + interval '4 seconds'
            FROM generate_series(1, 50) AS n""")
        conn.execute("VACUUM ANALYZE monitoring.measurements")
        rows = conn.execute("SELECT count(*) FROM monitoring.measurements").fetchone()[0]
    return {"measurements": rows, "checks": 60, "materializations": 40, "runs": 50}


def fill_live(url: str) -> dict:
    """The live tables as sustained traffic at the design's 1000 events/s would leave them (COPYed events never
    touch them): a row for every writer shard (8) and every second, minute and hour they keep; the games of a day
    (40 a second), those ended within the hour kept and one in twenty left open (abandoned); 5,000 sessions seen
    in the last five minutes."""
    with _connect(url) as conn:
        conn.execute("""
            INSERT INTO live.counts (span, start, shard, events, games_started, games_open, sessions_seen)
            SELECT span, start, shard, 125, 5, 1, 3
            FROM (VALUES ('second', interval '1 second', interval '61 minutes'),
                         ('minute', interval '1 minute', interval '24 hours 1 minute'),
                         ('hour', interval '1 hour', interval '25 hours')) AS s (span, step, kept)
            CROSS JOIN LATERAL generate_series(date_trunc(span, now() - kept, 'UTC'), now(), step) AS start
            CROSS JOIN generate_series(0, 7) AS shard
            ON CONFLICT DO NOTHING""")
        conn.execute("""
            INSERT INTO live.games (game_id, started_at, ended_at, was_started, was_ended)
            SELECT 'bench-live-' || n, now() - n * interval '25 milliseconds',
                   CASE WHEN n % 20 = 0 THEN NULL ELSE now() - n * interval '25 milliseconds' + interval '90 s' END,
                   true, n % 20 <> 0
            FROM generate_series(1, 3456000) AS n
            WHERE n % 20 = 0 OR n * interval '25 milliseconds' < interval '59 minutes'
            ON CONFLICT DO NOTHING""")
        conn.execute("""
            INSERT INTO live.sessions (session_id, last_seen_at)
            SELECT 'bench-session-' || n, now() - (n % 300) * interval '1 second' FROM generate_series(1, 5000) AS n
            ON CONFLICT DO NOTHING""")
        conn.execute("VACUUM ANALYZE live.counts, live.games, live.sessions")
        return {table: conn.execute(f"SELECT count(*) FROM live.{table}").fetchone()[0]
                for table in ("counts", "games", "sessions")}


def statement_costs(url: str) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of each read endpoint's statement, as its pooled connection would run it."""
    costs = {}
    with _connect(url) as conn:
        for name, params in STATEMENTS.items():
            folder = "sql" if name == "counters" else "sql/stats"
            sql = resources.files("ingest_api").joinpath(f"{folder}/{name}.sql").read_text("utf-8")
            runs = []
            for _ in range(5):
                [plan] = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()[0]
                runs.append(plan)
            best = min(runs, key=lambda plan: plan["Execution Time"])
            top = best["Plan"]
            costs[name] = {"execution_ms": round(best["Execution Time"], 3), "planning_ms": round(
                best["Planning Time"], 3), "shared_hit_blocks": top.get("Shared Hit Blocks", 0),
                "shared_read_blocks": top.get("Shared Read Blocks", 0), "rows": top.get("Actual Rows")}
    return costs


def _timed_get(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    response = session.get(url, headers=AUTH, timeout=10)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def _summary(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"count": len(ms), "p50": round(percentile(ms, 0.5), 2), "p95": round(percentile(ms, 0.95), 2),
            "p99": round(percentile(ms, 0.99), 2), "max": round(max(ms), 2)}


def _round(base: str, session: requests.Session, second: requests.Session, requests_each: int) -> dict:
    """Every endpoint alone, round-robin, `requests_each` times over keep-alive; then the full refresh: the panels
    and the counters requested side by side on two connections, timed until both have answered."""
    alone: dict[str, list[float]] = {path: [] for path in ENDPOINTS}
    for _ in range(requests_each):
        for path in ENDPOINTS:
            alone[path].append(_timed_get(session, base + path))
    refresh = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(requests_each):
            started = time.perf_counter()
            panels = pool.submit(_timed_get, session, base + "/dashboard/panels")
            counters = pool.submit(_timed_get, second, base + "/api/counters")
            panels.result(), counters.result()
            refresh.append(time.perf_counter() - started)
    return {"endpoints": {path: _summary(values) for path, values in alone.items()},
            "full_refresh": _summary(refresh), "load_average": [round(x, 2) for x in os.getloadavg()]}


def _median_of(rounds: list[dict], pick) -> dict:
    """Each percentile's median over the rounds (the machine is shared: one round can be unlucky)."""
    summaries = [pick(r) for r in rounds]
    return {key: round(median([s[key] for s in summaries]), 2) for key in ("p50", "p95", "p99", "max")} | {
        "p95_per_round": [s["p95"] for s in summaries], "count": sum(s["count"] for s in summaries)}


def measure_http(base: str, requests_each: int, rounds: int) -> dict:
    session, second = requests.Session(), requests.Session()
    for _ in range(WARM_UP):
        for path in ENDPOINTS:
            _timed_get(session, base + path)
    measured = [_round(base, session, second, requests_each) for _ in range(rounds)]
    return {"rounds": measured,
            "endpoints": {path: _median_of(measured, lambda r, p=path: r["endpoints"][p]) for path in ENDPOINTS},
            "full_refresh": _median_of(measured, lambda r: r["full_refresh"]),
            "panels_bytes": len(session.get(base + "/dashboard/panels", headers=AUTH).content)}


def markdown(result: dict) -> str:
    machine, data, http = result["machine"], result["data"], result["http"]
    refresh = http["full_refresh"]
    status = "met" if refresh["p95"] <= 200 else "**MISSED**"
    counters = http["endpoints"]["/api/counters"]
    retention = http["endpoints"]["/api/stats/retention"]
    lines = [
        f"# Dashboard benchmark, {result['started_at']} ({result['seconds']} s)", "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; PostgreSQL "
        f"{machine['postgresql']}; the API under gunicorn as `monkeytown up` runs it",
        f"- Data: {data['events']:,} events over {data['days']} days (the transform benchmark's traffic), "
        f"{data['ingest_errors']:,} refused; loaded in {data['load_s']} s; `dbt run` (every model) "
        f"{result['marts']['dbt_run_wall_s']} s",
        "- Marts: " + ", ".join(f"{name} {rows:,}" for name, rows in result["marts"]["rows"].items()),
        f"- Monitoring: {result['monitoring']['measurements']:,} measurements (a month, one a minute per metric)",
        "- Live counters' tables as 1000 events/s sustained would leave them: " + ", ".join(
            f"live.{table} {rows:,}" for table, rows in result.get("live", {}).items()),
        f"- {len(http['rounds'])} rounds of {result['requests_each']} requests per endpoint over keep-alive, after "
        f"{WARM_UP} warm-up passes; each figure is the median over the rounds of that round's percentile; load "
        f"average after each round: {', '.join(str(r['load_average'][0]) for r in http['rounds'])} (2 cores, "
        f"shared); the panels' HTML is {http['panels_bytes']:,} bytes", "",
        "| goal | target | measured | status |", "| --- | --- | --- | --- |",
        f"| full dashboard refresh (panels and counters side by side) | p95 <= 200 ms | p95 {refresh['p95']} ms "
        f"(p50 {refresh['p50']}, p99 {refresh['p99']}; p95 per round {refresh['p95_per_round']}) | {status} |",
        f"| real-time counters (`GET /api/counters`) | p99 <= 10 ms | p99 {counters['p99']} ms (p95 {counters['p95']}) "
        f"| {'met' if counters['p99'] <= 10 else '**MISSED**'} |",
        f"| retention cohorts, complex analytics (`GET /api/stats/retention`) | p95 <= 500 ms | p95 {retention['p95']} "
        f"ms | {'met' if retention['p95'] <= 500 else '**MISSED**'} |", "",
        "| endpoint | p50 ms | p95 ms | p99 ms | max ms | p95 per round |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [f"| `GET {path}` | {s['p50']} | {s['p95']} | {s['p99']} | {s['max']} | {s['p95_per_round']} |"
              for path, s in http["endpoints"].items()]
    lines += ["", "What each statement costs in PostgreSQL (EXPLAIN ANALYZE, best of 5, warm cache; `counters` is"
              " ingest_api/sql/counters.sql):", "",
              "| statement (ingest_api/sql/stats/) | execution ms | planning ms | shared blocks hit | read | rows |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| `{name}.sql` | {c['execution_ms']} | {c['planning_ms']} | {c['shared_hit_blocks']} | "
              f"{c['shared_read_blocks']} | {c['rows']} |" for name, c in result["statements"].items()]
    return "\n".join(lines)


def run(events: int, days: int, requests_each: int, rounds: int, seed: int, keep_home: bool) -> dict:
    started = datetime.now(UTC)
    with running_stack(keep_home) as stack:
        url = stack.database_url
        with _connect(url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        machine = {"cpu": _cpu_model(), "cores": len(os.sched_getaffinity(0)),
                   "memory_gib": _memory_gib(), "postgresql": version + (" (embedded)" if stack.embedded else "")}
        _progress(f"generating and loading {events:,} events over {days} days (COPY)")
        data = load_events(url, events, days, seed)
        _progress(f"loaded {data['events']:,} events in {data['load_s']} s; dbt run")
        marts = build_marts(url, stack.home)
        _progress(f"marts built in {marts['dbt_run_wall_s']} s; monitoring rows, then the statements' costs")
        monitoring = fill_monitoring(url)
        live = fill_live(url)
        statements = statement_costs(url)
        _progress(f"{rounds} rounds of {requests_each} requests per endpoint over HTTP")
        http = measure_http(f"http://{HOST}:{stack.api.port}", requests_each, rounds)
    return {"benchmark": "dashboard", "started_at": started.isoformat(timespec="seconds"),
            "seconds": round((datetime.now(UTC) - started).total_seconds()), "machine": machine, "data": data,
            "marts": marts, "monitoring": monitoring, "live": live, "statements": statements,
            "requests_each": requests_each, "http": http}


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="raw events to generate (default 10M)")
    parser.add_argument("--days", type=int, default=30, help="over this many days (default 30)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint and round (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of them (default 3)")
    parser.add_argument("--seed", type=int, default=1129)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep-home", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        result = run(args.events, args.days, args.requests, args.rounds, args.seed, args.keep_home)
    except KeyboardInterrupt:
        print("bench.dashboard: interrupted; the database is stopped", file=sys.stderr)
        return 130
    text = markdown(result)
    json_path, md_path = write_reports(result, text, args.out, "dashboard")
    print(text)
    _progress(f"wrote {md_path} and {json_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
