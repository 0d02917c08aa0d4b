"""`monkeytown bench --stream [--quick]`: the WebSocket stream beside HTTP, and the server model that holds it.

One database and three gunicorn servers of the real API, started fresh: the default (gevent workers), the same with
gthread workers, and nothing else. In every round, each side back to back, the order flipped every round:
- server model: HTTP single events closed-loop (32 connections) and open-loop at 1000/s, and 100-event batches,
  on gevent and on gthread workers;
- one connection: events/s over one WebSocket (one event a message; batches of 100) against one HTTP keep-alive
  connection (single POSTs; 100-event POSTs), each message waiting for the previous ack;
- spread: ack latency at 1000 events/s over 100 connections, one event a message, open loop;
- idle: memory and threads of the API's processes with 1,000 idle streams held open, and the HTTP figures again
  while they are held.
Medians of the rounds go in the report (bench/results/stream-*.json and .md)."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil

from bench import events, loadgen, wsgen
from bench.ingest import reset
from bench.machine import describe
from bench.report import write_reports
from bench.stack import HOST, READY_SECONDS, WRITE_KEY, Server, gunicorn_server
from bench.stats import median
from ingest_api import migrate
from monkeytown.database import scratch_database
from monkeytown.supervisor import Supervisor, wait_until_ready


@dataclass(frozen=True)
class StreamPlan:
    rounds: int = 5
    seconds: float = 5.0
    batch: int = 100
    http_connections: int = 32
    open_rate: int = 1000
    spread_rate: int = 1000
    spread_connections: int = 100
    spread_seconds: float = 10.0
    idle_connections: int = 1000


QUICK = StreamPlan(rounds=3, seconds=2.0, spread_seconds=4.0)
SINGLE_RATE_CEILING = 6000  # events generated per second of a closed-loop side, so no event_id repeats


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def servers(home: Path) -> Iterator[tuple[str, bool, dict[str, Server]]]:
    """A scratch database and the API twice on it: gevent workers (the default) and gthread workers."""
    with contextlib.ExitStack() as stack:
        url, embedded = stack.enter_context(scratch_database(home, os.environ.get("MONKEYTOWN_DATABASE_URL"),
                                                      prefix="monkeytown_bench"))
        migrate.upgrade(url)
        env = {**os.environ, "MONKEYTOWN_HOME": str(home), "MONKEYTOWN_DATABASE_URL": url,
               "MONKEYTOWN_WRITE_KEYS": WRITE_KEY, "PYTHONUNBUFFERED": "1",
               "MONKEYTOWN_RATE_LIMIT": "1000000/second", "MONKEYTOWN_STREAM_RATE_LIMIT": "1000000/second"}
        supervisor = Supervisor()
        stack.callback(supervisor.stop_all, grace_seconds=20)
        apis = {
            model: gunicorn_server(supervisor, f"api-{model}", "python:ingest_api.gunicorn_conf",
                                   "ingest_api.wsgi:app", {**env, "MONKEYTOWN_API_WORKER_CLASS": model}, home)
            for model in ("gevent", "gthread")
        }
        for api in apis.values():
            wait_until_ready(f"http://{HOST}:{api.port}/readyz", supervisor, READY_SECONDS)
        yield url, embedded, apis


def _accepted(status: int, body: bytes) -> bool:
    return status == 200 and b'"accepted"' in body


def _batch_rows(body: bytes) -> int:
    return orjson.loads(body)["accepted"]


def _messages(tag: str, count: int, batch: int = 1) -> list[bytes]:
    game = events.game_events(count * batch, tag)
    if batch == 1:
        return [orjson.dumps(e) for e in game]
    return [orjson.dumps(game[i:i + batch]) for i in range(0, len(game), batch)]


def http_model_round(url: str, api: Server, plan: StreamPlan, tag: str) -> dict:
    """The HTTP figures of one server: closed-loop single events, open loop at plan.open_rate, batches."""
    address = (HOST, api.port)
    reset(url)
    singles = events.single_requests(int(plan.seconds * SINGLE_RATE_CEILING) + 2000, f"{tag}c", HOST, api.port,
                                     WRITE_KEY)
    closed = loadgen.in_child(loadgen.closed_loop, address, singles, plan.http_connections, 0.5, plan.seconds,
                              _accepted)
    reset(url)
    paced = events.single_requests(int(plan.open_rate * plan.seconds), f"{tag}o", HOST, api.port, WRITE_KEY)
    opened = loadgen.in_child(loadgen.open_loop, address, paced, plan.open_rate, plan.http_connections, _accepted)
    reset(url)
    batches = events.batch_requests(events.game_events(20_000, f"{tag}b"), 500, HOST, api.port, WRITE_KEY)
    batched = loadgen.in_child(loadgen.fixed_work, address, batches, 4, _batch_rows)
    return {"single_per_s": round(closed["ok_per_s"]), "single_p99_ms": closed["latency_ms"].get("p99"),
            "open_p99_ms": opened["latency_ms"].get("p99"), "open_errors": opened["errors"],
            "batch_rows_per_s": round(batched["units"] / batched["seconds"])}


def one_connection_round(url: str, api: Server, plan: StreamPlan, tag: str, http_first: bool) -> dict:
    """Events/s over one connection, each message or request waiting for the previous answer."""
    address = (HOST, api.port)
    count = int(plan.seconds * SINGLE_RATE_CEILING)

    def ws_single() -> dict:
        return loadgen.in_child(wsgen.one_connection, address, WRITE_KEY, _messages(f"{tag}ws", count), 1,
                                plan.seconds)

    def ws_batch() -> dict:
        return loadgen.in_child(wsgen.one_connection, address, WRITE_KEY,
                                _messages(f"{tag}wb", count // 10, plan.batch), 1, plan.seconds)

    def http_single() -> dict:
        requests = events.single_requests(count, f"{tag}hs", HOST, api.port, WRITE_KEY)
        result = loadgen.in_child(loadgen.closed_loop, address, requests, 1, 0.0, plan.seconds, _accepted)
        return {"events_per_s": result["ok_per_s"], "latency_ms": result["latency_ms"]}

    def http_batch() -> dict:
        requests = events.batch_requests(events.game_events(count * 10, f"{tag}hb"), plan.batch, HOST, api.port,
                                         WRITE_KEY)
        result = loadgen.in_child(loadgen.fixed_work, address, requests[:max(1, int(plan.seconds * 60))], 1,
                                  _batch_rows)
        return {"events_per_s": result["units"] / result["seconds"]}

    sides: list[tuple[str, Callable[[], dict]]] = [("ws_single", ws_single), ("http_single", http_single),
                                                   ("ws_batch", ws_batch), ("http_batch", http_batch)]
    if http_first:
        sides = [sides[1], sides[0], sides[3], sides[2]]
    result = {}
    for name, side in sides:
        reset(url)
        result[name] = side()
    return {name: round(result[name]["events_per_s"]) for name in result} | {
        "ws_single_p99_ms": result["ws_single"]["latency_ms"].get("p99"),
        "http_single_p99_ms": result["http_single"]["latency_ms"].get("p99")}


def spread_round(url: str, api: Server, plan: StreamPlan, tag: str) -> dict:
    reset(url)
    messages = _messages(f"{tag}sp", int(plan.spread_rate * plan.spread_seconds))
    result = loadgen.in_child(wsgen.spread_open_loop, (HOST, api.port), WRITE_KEY, messages, plan.spread_rate,
                              plan.spread_connections)
    return {"acked_events": result["acked_events"], "sent": result["sent"], "unanswered": result["unanswered"],
            "latency_ms": result["latency_ms"]}


def api_footprint(api: Server) -> dict:
    """Resident memory (RSS summed, and each process's unique pages) and threads of the API's processes."""
    master = psutil.Process(api.process.pid)
    processes = [master, *master.children(recursive=True)]
    rss = uss = threads = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            info = process.memory_full_info()
            rss, uss, threads = rss + info.rss, uss + info.uss, threads + process.num_threads()
    # how the kernel spread the connections over the workers (the master listens only)
    established = [sum(c.status == psutil.CONN_ESTABLISHED for c in worker.net_connections("tcp"))
                   for worker in processes[1:]]
    return {"processes": len(processes), "rss_mb": round(rss / 2**20, 1), "uss_mb": round(uss / 2**20, 1),
            "threads": threads, "connections_per_worker": sorted(established, reverse=True)}


@contextlib.contextmanager
def idle_streams(api: Server, connections: int) -> Iterator[None]:
    """`connections` idle streams held open by a child process while the block runs."""
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=wsgen.hold_idle, args=((HOST, api.port), WRITE_KEY, connections, ready, release),
                             daemon=True)
    holder.start()
    try:
        if not ready.wait(120):
            raise RuntimeError(f"{connections} streams did not open within 120 s")
        yield
    finally:
        release.set()
        holder.join(10)
        if holder.is_alive():
            holder.kill()


def idle_round(url: str, api: Server, plan: StreamPlan, tag: str) -> dict:
    """The API's footprint and HTTP figures without, then with, plan.idle_connections idle streams."""
    quiet = {"footprint": api_footprint(api), "http": http_model_round(url, api, plan, f"{tag}q")}
    with idle_streams(api, plan.idle_connections):
        time.sleep(1.0)  # the workers' buffers settle before memory is read
        held = {"footprint": api_footprint(api), "http": http_model_round(url, api, plan, f"{tag}h")}
    return {"without": quiet, "with_idle": held}


def _medians(rounds: list[dict], path: Callable[[dict], float | None]) -> float | None:
    values = [v for v in (path(r) for r in rounds) if v is not None]
    return round(median(values), 1) if values else None


def summarize(result: dict) -> dict:
    model, one, spread, idle = (result[k] for k in ("server_model", "one_connection", "spread", "idle"))
    summary = {}
    for name in ("gevent", "gthread"):
        for figure in ("single_per_s", "single_p99_ms", "open_p99_ms", "batch_rows_per_s"):
            summary[f"http_{name}_{figure}"] = _medians(model, lambda r, n=name, f=figure: r[n][f])
    for figure in ("ws_single", "http_single", "ws_batch", "http_batch", "ws_single_p99_ms", "http_single_p99_ms"):
        summary[f"one_connection_{figure}"] = _medians(one, lambda r, f=figure: r[f])
    for figure in ("p50", "p90", "p99", "max"):
        summary[f"spread_ack_{figure}_ms"] = _medians(spread, lambda r, f=figure: r["latency_ms"].get(f))
    for side in ("without", "with_idle"):
        for figure in ("rss_mb", "uss_mb", "threads"):
            summary[f"idle_{side}_{figure}"] = _medians(idle, lambda r, s=side, f=figure: r[s]["footprint"][f])
        for figure in ("single_per_s", "single_p99_ms", "open_p99_ms", "batch_rows_per_s"):
            summary[f"idle_{side}_http_{figure}"] = _medians(idle, lambda r, s=side, f=figure: r[s]["http"][f])
    return summary


def run(plan: StreamPlan, quick: bool, keep_home: bool = False) -> dict:
    started = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="monkeytown-bench-stream-"))
    result = {"server_model": [], "one_connection": [], "spread": [], "idle": []}
    machine = {}
    try:
        with servers(home) as (url, embedded, apis):
            machine = describe(url, embedded)
            gevent = apis["gevent"]
            _warm(url, apis)
            for r in range(plan.rounds):
                order = ("gevent", "gthread") if r % 2 == 0 else ("gthread", "gevent")
                result["server_model"].append({m: http_model_round(url, apis[m], plan, f"m{r}{m}") for m in order})
                result["one_connection"].append(one_connection_round(url, gevent, plan, f"c{r}", r % 2 == 1))
                result["spread"].append(spread_round(url, gevent, plan, f"s{r}"))
                result["idle"].append(idle_round(url, gevent, plan, f"i{r}"))
                _progress(f"round {r + 1}/{plan.rounds}: {summarize(result)}")
    finally:
        if not keep_home:
            shutil.rmtree(home, ignore_errors=True)
    return {"started_at": started.isoformat(timespec="seconds"), "mode": "quick" if quick else "full",
            "plan": asdict(plan), "machine": machine, "summary": summarize(result), **result}


def _warm(url: str, apis: dict[str, Server]) -> None:
    for api in apis.values():
        requests = events.single_requests(2000, f"warm{api.port}", HOST, api.port, WRITE_KEY)
        loadgen.in_child(loadgen.closed_loop, (HOST, api.port), requests, 16, 0.0, 1.0, _accepted)
    loadgen.in_child(wsgen.one_connection, (HOST, apis["gevent"].port), WRITE_KEY, _messages("warmws", 2000), 1,
                     1.0)
    reset(url)


def markdown(result: dict) -> str:
    s = result["summary"]
    lines = [f"# Stream benchmark ({result['mode']}, {result['started_at']})", "",
             f"Machine: {result['machine']}", "", "| figure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in s.items()]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    plan = QUICK if args.quick else StreamPlan()
    if args.rounds:
        plan = StreamPlan(**{**asdict(plan), "rounds": args.rounds})
    result = run(plan, args.quick, args.keep_home)
    text = markdown(result)
    json_path, md_path = write_reports(result, text, args.out, name="stream")
    print(text)
    print(f"wrote {json_path} and {md_path}")
    return 0
