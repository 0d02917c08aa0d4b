"""What the Great Expectations checks cost at a million raw events: every suite over all its rows (a first
run, or after its watermark is reset) against the same suite over one hour of new arrivals, in seconds and
in SQL statements GX sends. `python -m bench.quality [--events N] [--rounds R] [--database-url URL]`.
Writes bench/results/quality-<time>.md and .json."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench import traffic
from bench.machine import describe
from ingest_api import migrate
from monkeytown.database import scratch_database
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_command, dbt_environment, dbt_vars_args
from orchestration.environment import dagster_environment
from orchestration.quality.checks import reset_watermarks, validate_mart, validate_raw_events
from orchestration.quality.mart_rules import MART_SUITES

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def dbt_run(url: str) -> None:
    subprocess.run(dbt_command(["run", "--quiet", *dbt_vars_args()]), env=dbt_environment(url), cwd=DBT_PROJECT_DIR,
                   check=True)


def validate_everything(url: str) -> dict[str, dict]:
    """Every suite once, raw first (it quarantines), in the order a core run and a rollup run take them."""
    raw = validate_raw_events(url)
    costs = {"raw_events": {"seconds": raw.found.seconds + (raw.remaining.seconds if raw.quarantined else 0),
                            "sql_statements": raw.found.sql_statements, "rows": raw.found.rows,
                            "expectations": raw.found.expectations, "quarantined": sum(raw.quarantined.values())}}
    for suite in MART_SUITES:
        outcome = validate_mart(url, suite)
        costs[suite.name] = {"seconds": outcome.seconds, "sql_statements": outcome.sql_statements,
                             "rows": outcome.rows, "expectations": outcome.expectations,
                             "errors": len(outcome.errors)}
    return costs


def run(events: int, rounds: int, url: str, home: Path, embedded: bool) -> dict:
    os.environ.update(dagster_environment(url, home))
    now = datetime.now(UTC)
    first_hour = now - timedelta(hours=rounds)
    start = first_hour - timedelta(days=30)
    traffic.ensure_partitions(url, start.date() - timedelta(days=1), now.date() + timedelta(days=1))
    loaded = traffic.load(url, traffic.Traffic(1129, start, now, events / 30), first_hour, rounds)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE raw.events, raw.event_ids, raw.ingest_errors")
    _progress(f"loaded {loaded.events:,} events; building the marts")
    dbt_run(url)
    full, incremental = [], []
    for r in range(rounds):
        reset_watermarks(url)
        full.append(validate_everything(url))
        _progress(f"round {r + 1}: every row validated")
        landed = traffic.land_hour(url, loaded.hours[r])
        dbt_run(url)
        incremental.append(validate_everything(url) | {"landed": landed})
        _progress(f"round {r + 1}: one hour ({landed['events']} events) validated")
    return {"when": now.isoformat(timespec="seconds"), "machine": describe(url, embedded),
            "events": loaded.events, "rounds": rounds, "full": full, "incremental": incremental}


def median(runs: list[dict], suite: str, key: str) -> float:
    return statistics.median(run[suite][key] for run in runs)


def markdown(report: dict) -> str:
    suites = ["raw_events", *(s.name for s in MART_SUITES)]
    lines = [f"# Quality checks benchmark, {report['when']}", "",
             f"- Machine: {json.dumps(report['machine'])}",
             f"- {report['events']:,} raw events over 30 days; {report['rounds']} rounds, medians; each round"
             " validates every row (watermarks reset), then lands one more hour through the API's landing"
             " statement, runs dbt and validates what changed", "",
             "| suite | expectations | rows, all | seconds, all | SQL statements, all | rows, 1 h | seconds, 1 h"
             " | SQL statements, 1 h | 1 h / all (seconds) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for suite in suites:
        full_s, inc_s = median(report["full"], suite, "seconds"), median(report["incremental"], suite, "seconds")
        lines.append(
            f"| {suite} | {report['full'][0][suite]['expectations']} | {median(report['full'], suite, 'rows'):,.0f}"
            f" | {full_s:.2f} | {median(report['full'], suite, 'sql_statements'):.0f}"
            f" | {median(report['incremental'], suite, 'rows'):,.0f} | {inc_s:.2f}"
            f" | {median(report['incremental'], suite, 'sql_statements'):.0f} | {inc_s / full_s:.0%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="an empty database to use (default: a fresh embedded one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="monkeytown-quality-bench-") as tmp:
        home = Path(tmp)
        with contextlib.ExitStack() as stack:
            url, embedded = args.database_url, False
            if not url:
                url, embedded = stack.enter_context(scratch_database(home, prefix="monkeytown_bench"))
            migrate.upgrade(url)
            report = run(args.events, args.rounds, url, home, embedded=embedded)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"quality-{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    text = markdown(report)
    (RESULTS_DIR / f"quality-{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
