"""`python -m bench.profile_api [--seconds 15] [--rate 0 | --batch]`: where an API worker's CPU goes per event. Starts
the API as the ingest benchmark does (bench/stack.py, no hello-world), warms it up, offers single events (closed loop
on 32 connections, or open loop at --rate) or, with --batch, arrays of 500 events on 4 connections (the ingest
benchmark's batch side) for about --seconds, and samples every worker with py-spy (PyPI `py-spy`, in the `test` extra:
a sampling profiler that reads the process from outside, without pausing it), then adds the samples up by function
(its own time and with what it calls) and by layer (gunicorn and gevent, Flask and Werkzeug, the door's validation,
the landing, psycopg, logging...). Writes bench/results/profile-<UTC time>.md and prints it."""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil

from bench import events, loadgen
from bench.ingest import BATCH_SIZE, warm_up
from bench.machine import code_version, describe
from bench.report import write_reports
from bench.stack import HOST, WRITE_KEY, running_stack

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SAMPLES_PER_SECOND = 250
CONNECTIONS = 32
BATCH_CONNECTIONS = 4
#: Batch rows offered per second of --seconds: about what the API lands here, so the load lasts about that long.
BATCH_ROWS_PER_SECOND = 40_000
#: Where a frame's file says which layer it belongs to: the first match wins, so the project's own come first.
LAYERS = (
    ("the door: validation and admission", ("ingest_api/door", "ingest_api/contracts", "ingest_api/timestamps",
                                            "ingest_api/body", "ingest_api/stored_form", "fastjsonschema")),
    ("landing: group commit and statement", ("ingest_api/landing", "ingest_api/group_commit")),
    ("request log", ("ingest_api/request_log", "monkeytown/logs", "logging/")),
    ("metrics", ("prometheus_client", "ingest_api/metrics")),
    ("the API's other code", ("ingest_api/",)),
    ("psycopg and its pool", ("psycopg",)),
    ("Flask and Werkzeug", ("flask", "werkzeug")),
    ("gunicorn and gevent", ("gunicorn", "gevent")),
    ("JSON", ("orjson", "json/")),
)
OTHER = "Python and other libraries"


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy (it is in the `test` extra)")
    return found


def record(pid: int, out: Path) -> subprocess.Popen:
    """py-spy sampling one worker in the background until it gets SIGINT; its folded stacks go to `out`."""
    return subprocess.Popen([py_spy(), "record", "--pid", str(pid), "--rate", str(SAMPLES_PER_SECOND),
                             "--format", "raw", "--nolineno", "--nonblocking",
                             "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def folded_stacks(text: str) -> Counter:
    """{(frame, ..., innermost): samples} from py-spy's raw (folded) format: `a;b;c count` a line."""
    stacks: Counter = Counter()
    for line in text.splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks[tuple(frames.split(";"))] += int(count)
    return stacks


def layer_of(frame: str) -> str:
    return next((name for name, markers in LAYERS if any(marker in frame for marker in markers)), OTHER)


def by_function(stacks: Counter) -> tuple[Counter, Counter]:
    """(own samples, samples with callees) by frame."""
    own, inclusive = Counter(), Counter()
    for frames, count in stacks.items():
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return own, inclusive


def by_layer(stacks: Counter) -> Counter:
    """Samples by the layer of the innermost frame that is not the standard library or a small helper: a
    psycopg call from the landing counts as psycopg, a regex from the door as the door."""
    layers: Counter = Counter()
    for frames, count in stacks.items():
        layers[next((layer for layer in map(layer_of, reversed(frames)) if layer != OTHER), OTHER)] += count
    return layers


def workers_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def _table(rows: list[tuple[str, int]], total: int, cpu_us_per_event: float, head: str) -> list[str]:
    """Each row's share of the samples, and that share of the workers' measured CPU per event."""
    lines = [f"| {head} | samples | share | CPU per event |", "| --- | ---: | ---: | ---: |"]
    for name, count in rows:
        share = count / total
        lines.append(f"| `{name[:110]}` | {count:,} | {share:.1%} | {share * cpu_us_per_event:.0f} us |")
    return lines


def markdown(result: dict, stacks: Counter) -> str:
    total = sum(stacks.values())
    own, inclusive = by_function(stacks)
    accepted = result["load"]["ok"]
    per_event = result["workers_cpu_s"] / max(accepted, 1) * 1e6
    lines = [f"# Where an API worker's CPU goes: profile of {result['started_at']}", "",
             f"- Machine: {result['machine'].get('cpu')}, {result['machine'].get('cores')} cores; "
             f"commit {result['commit']}",
             f"- Load: {result['mode']}, {accepted:,} events accepted in {result['seconds']} s "
             f"({accepted / result['seconds']:,.0f}/s); the workers used {result['workers_cpu_s']:.2f} s of CPU "
             f"(from /proc), {per_event:.0f} us per event; py-spy at {SAMPLES_PER_SECOND} samples/s on each of "
             f"{result['workers']} workers took {total:,} samples; a row's CPU per event is its share of the "
             "samples times the measured CPU per event", "",
             "## By layer (innermost frame of the project or a named library)", ""]
    lines += _table(by_layer(stacks).most_common(), total, per_event, "layer")
    lines += ["", "## Functions with what they call (top 30)", ""]
    lines += _table(inclusive.most_common(30), total, per_event, "function")
    lines += ["", "## Functions' own time (top 30)", ""]
    lines += _table(own.most_common(30), total, per_event, "function")
    return "\n".join(lines) + "\n"


def load_to_offer(port: int, seconds: float, rate: int, batch: bool) -> tuple[str, Callable[[], dict]]:
    """(what is offered, a function sending it that returns the load generator's figures with `ok` the events
    accepted); the requests are made here, before the profilers start."""
    address = (HOST, port)
    accepted = lambda status, body: status == 200 and b'"accepted"' in body  # noqa: E731
    if batch:
        game_events = events.game_events(int(BATCH_ROWS_PER_SECOND * seconds), "profile-b")
        batches = events.batch_requests(game_events, BATCH_SIZE, HOST, port, WRITE_KEY)

        def send_batches() -> dict:
            load = loadgen.in_child(loadgen.fixed_work, address, batches, BATCH_CONNECTIONS,
                                    lambda body: orjson.loads(body)["accepted"])
            return {**load, "ok": load["units"]}
        return f"batches of {BATCH_SIZE} on {BATCH_CONNECTIONS} connections", send_batches
    requests = events.single_requests(int((rate or 4000) * (seconds + 4)), "profile", HOST, port, WRITE_KEY)
    if rate:
        return f"open loop at {rate}/s", lambda: loadgen.in_child(
            loadgen.open_loop, address, requests[:int(rate * seconds)], rate, CONNECTIONS, accepted)
    return f"closed loop on {CONNECTIONS} connections", lambda: loadgen.in_child(
        loadgen.closed_loop, address, requests, CONNECTIONS, 0.0, seconds, accepted)


def run(seconds: float, rate: int, batch: bool = False) -> tuple[dict, Counter]:
    work = Path(tempfile.mkdtemp(prefix="monkeytown-profile-"))
    with running_stack(hellos=False) as stack:
        machine = describe(stack.database_url, stack.embedded)
        warm_up(stack)
        workers = [p.pid for p in psutil.Process(stack.api.process.pid).children(recursive=True)]
        mode, send = load_to_offer(stack.api.port, seconds, rate, batch)
        profilers = [record(pid, work / f"{pid}.txt") for pid in workers]
        time.sleep(0.5)  # py-spy attached before the load starts
        cpu_before = workers_cpu_seconds(workers)
        load = send()
        workers_cpu_s = workers_cpu_seconds(workers) - cpu_before
        for profiler in profilers:  # py-spy writes what it sampled when interrupted
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
    stacks: Counter = Counter()
    for path in work.glob("*.txt"):
        stacks += folded_stacks(path.read_text())
    shutil.rmtree(work, ignore_errors=True)
    commit = code_version("ingest_api", "monkeytown")["commit"]
    return {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine, "commit": commit,
            "mode": mode, "seconds": round(load.get("seconds", seconds), 2), "workers": len(workers),
            "workers_cpu_s": workers_cpu_s, "load": load}, stacks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="how long to load and sample (default 15)")
    parser.add_argument("--rate", type=int, default=0, help="open loop at this rate; 0 (default): closed loop")
    parser.add_argument("--batch", action="store_true", help="arrays of 500 events instead of single events")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    py_spy()
    result, stacks = run(args.seconds, args.rate, args.batch)
    text = markdown(result, stacks)
    write_reports({**result, "stacks": {";".join(k): v for k, v in stacks.items()}}, text, args.out, "profile")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
