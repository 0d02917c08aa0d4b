"""`monkeytown bench [--quick]`: the ingest benchmarks, side by side and interleaved, with a JSON and a
Markdown report under bench/results/. `monkeytown bench --transform [--quick]`: the transform benchmark
(dbt and Dagster over a month of events, bench/transform.py) instead; `monkeytown bench --retention [--quick]`:
the retention benchmark (the daily archive, privacy and housekeeping jobs over three months of events,
bench/retention.py)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bench import ingest
from bench.fsync import fsync_rates
from bench.hello_granian import granian_version
from bench.machine import describe
from bench.report import markdown, write_reports
from bench.stack import Stack, running_stack
from bench.summary import summarize
from ingest_api import gunicorn_conf

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Plan:
    rounds: int = 5
    batch_rows: int = 40_000
    batch_connections: int = 4
    open_rates: tuple[int, ...] = (250, 500, 1000, 2000)
    open_seconds: float = 10.0
    open_rounds: int = 3
    open_connections: int = 32
    closed_warmup: float = 1.0
    closed_seconds: float = 5.0
    closed_connections: int = 32
    fsync_samples: int = 5
    fsync_seconds: float = 1.0


QUICK = Plan(rounds=3, batch_rows=10_000, open_seconds=4.0, open_rounds=1, closed_warmup=0.5,
             closed_seconds=2.0, fsync_samples=3, fsync_seconds=0.5)


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _batch(stack: Stack, roots: dict, plan: Plan) -> list[dict]:
    rounds = []
    for r in range(plan.rounds):
        # A/B then B/A: drift on a shared machine falls on both sides alike
        result = ingest.batch_round(stack, roots, plan.batch_rows, f"b{r}", plan.batch_connections,
                                    http_first=r % 2 == 1)
        _progress(f"batch round {r + 1}/{plan.rounds}: COPY {result['copy']['rows_per_s']:,} rows/s, "
                  f"HTTP {result['http']['rows_per_s']:,} rows/s, ratio {result['ratio']:.0%}")
        rounds.append(result)
    return rounds


def _open_loop(stack: Stack, roots: dict, plan: Plan) -> list[dict]:
    rounds = []
    for r in range(plan.open_rounds):
        rates = plan.open_rates if r % 2 == 0 else tuple(reversed(plan.open_rates))
        for rate in rates:
            result = ingest.open_loop_round(stack, roots, rate, plan.open_seconds, plan.open_connections,
                                            f"o{r}-{rate}")
            _progress(f"open loop round {r + 1}/{plan.open_rounds} at {rate}/s: achieved "
                      f"{result['achieved_per_s']:.0f}/s, p99 {result['latency_ms'].get('p99')} ms, "
                      f"errors {result['errors']}")
            rounds.append(result)
    return rounds


def _closed_loop(stack: Stack, roots: dict, plan: Plan) -> list[dict]:
    rounds = []
    for r in range(plan.rounds):
        # the API and every hello-world back to back, the order reversed every other round
        result = ingest.closed_loop_round(stack, roots, plan.closed_warmup, plan.closed_seconds,
                                          plan.closed_connections, f"c{r}", r % 2 == 1)
        hellos = ", ".join(f"{name} {h['ok_per_s']:.0f}" for name, h in result["hello"].items())
        _progress(f"closed loop round {r + 1}/{plan.rounds}: API {result['api']['ok_per_s']:.0f} req/s, "
                  f"hello-world {hellos} req/s, ratio to {result['best_hello']} {result['ratio']:.0%}")
        rounds.append(result)
    return rounds


def _servers() -> dict:
    """The servers the API is compared with, as configured for this run."""
    return {"api_worker_class": gunicorn_conf.worker_class, "workers": gunicorn_conf.workers,
            "threads": gunicorn_conf.threads, "granian": granian_version()}


def run(plan: Plan, quick: bool, keep_home: bool = False) -> dict:
    started = datetime.now(UTC)
    _progress("starting PostgreSQL, the API and the hello-worlds (gunicorn sync, gthread, gevent; granian)")
    with running_stack(keep_home) as stack:
        if keep_home:
            _progress(f"MONKEYTOWN_HOME (kept): {stack.home}")
        roots = stack.cpu_roots()
        machine = describe(stack.database_url, stack.embedded)
        ingest.warm_up(stack)
        fsync = fsync_rates(stack.home, plan.fsync_samples, plan.fsync_seconds)
        _progress(f"fsync: {', '.join(f'{x:.0f}' for x in fsync)} /s")
        raw = {"fsync_per_s": [round(x) for x in fsync], "batch": _batch(stack, roots, plan),
               "open_loop": _open_loop(stack, roots, plan), "closed_loop": _closed_loop(stack, roots, plan)}
    return {"started_at": started.isoformat(timespec="seconds"), "mode": "quick" if quick else "full",
            "seconds": round((datetime.now(UTC) - started).total_seconds()), "machine": machine,
            "servers": _servers(), "plan": asdict(plan), "summary": summarize(raw), "rounds": raw}


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="monkeytown bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about a minute and a half instead of about six "
                        "(--transform: 100,000 events, 2 rounds; --retention: 100,000 events, 2 rounds)")
    parser.add_argument("--rounds", type=int, help="rounds of the batch and closed-loop measurements "
                        "(--transform: of the whole sequence, default 3; --retention: of three days each, "
                        "default 4)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the reports go")
    parser.add_argument("--keep-home", action="store_true",
                        help="keep the temporary MONKEYTOWN_HOME (server logs) instead of deleting it")
    parser.add_argument("--transform", action="store_true",
                        help="the transform benchmark (dbt full refresh vs incremental, parsing, Dagster) instead")
    parser.add_argument("--retention", action="store_true",
                        help="the retention benchmark (the daily job through Dagster, `retention run`, archive "
                        "throughput, a day's size in Parquet and in PostgreSQL) instead")
    parser.add_argument("--stream", action="store_true",
                        help="the stream benchmark (WebSocket beside HTTP, gevent beside gthread workers, 1,000 "
                        "idle connections) instead")
    parser.add_argument("--events", type=int, help="--transform, --retention: raw events to generate (default "
                        "1,000,000; --quick 100,000)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # `monkeytown bench -- --quick` hands over the "--" too (its argparse REMAINDER refuses a leading option)
    args = parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    if args.transform:
        from bench.transform import main as transform_main  # Dagster and dbt load for the transform bench only

        return transform_main(args)
    if args.retention:
        from bench.retention import main as retention_main  # Dagster and dbt load for the retention bench only

        return retention_main(args)
    if args.stream:
        from bench.stream import main as stream_main

        return stream_main(args)
    plan = QUICK if args.quick else Plan()
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        result = run(plan, args.quick, args.keep_home)
    except KeyboardInterrupt:
        print("monkeytown bench: interrupted; the servers and the database are stopped", file=sys.stderr)
        return 130
    text = markdown(result)
    json_path, md_path = write_reports(result, text, args.out)
    print(text)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
