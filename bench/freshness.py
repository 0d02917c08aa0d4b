"""How long a freshly ingested event takes to show up in the marts with the default automation: the whole platform
as `monkeytown up --simulate` runs it (embedded database, API, Dagster code server, webserver and daemon with the
arrivals sensor, and the simulator's game traffic the whole time), one game_start posted at a time, then
marts.games polled until it is there. `python -m bench.freshness [N] [--no-simulate]`.

One untimed warm-up event goes first (it waits for the first build of the marts), then N timed samples (20 by
default): each waits a random 0-20 s, posts one game_start with a fresh game_id and polls marts.games every
0.25 s. After the last one, Dagster's records say for each sample which run of refresh_core_models picked it up,
when the sensor asked for that run, when it left the queue, started and finished (bench/freshness_dagster.py);
bench/freshness_report.py makes the figures and the report, written to bench/results/freshness-<UTC>.md/.json."""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import machine
from bench.freshness_report import breakdown, markdown, summarize
from bench.report import write_reports

RESULTS_DIR = Path(__file__).resolve().parent / "results"
POLL_SECONDS = 0.25
MAX_WAIT_SECONDS = 20.0
LIMIT_SECONDS = 300.0  # a sample not in the marts by then counts as never
STOP_SECONDS = 120.0
#: Where a change moves the figures: the commit is reported with any uncommitted change under these.
CODE_PATHS = ("orchestration", "dbt_project", "ingest_api", "monkeytown")


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the platform, as `monkeytown up [--simulate]` runs it ---------------------------------------------------


@dataclass
class Platform:
    process: subprocess.Popen
    home: Path
    api: str
    key: str
    database: str
    status_lines: collections.deque = field(default_factory=lambda: collections.deque(maxlen=3))


def start_platform(home: Path, simulate: bool) -> Platform:
    """`monkeytown up` itself, in a fresh MONKEYTOWN_HOME on free ports: with --simulate it starts the simulator
    after the banner, as it does for anyone (no second traffic loop here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONKEYTOWN_")}
    env |= {"MONKEYTOWN_HOME": str(home), "MONKEYTOWN_API_PORT": str(free_port()),
            "MONKEYTOWN_DAGSTER_PORT": str(free_port())}
    command = [sys.executable, "-m", "monkeytown.cli", "up", *(["--simulate"] if simulate else [])]
    stderr = (home / "up.stderr").open("w")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    stderr.close()
    banner = ""
    for line in process.stdout:
        banner += line
        if "Press Ctrl-C" in line:
            break
    found = re.search(r"Write key\s+(\S+)", banner)
    if found is None or process.poll() is not None:
        stop_platform(process)
        tail = (home / "up.stderr").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"monkeytown up did not come up (exit {process.returncode}):\n{tail}")
    database = subprocess.run([sys.executable, "-m", "monkeytown.cli", "db", "url"], env=env, text=True,
                              capture_output=True, check=True).stdout.strip()
    platform = Platform(process, home, f"http://127.0.0.1:{env['MONKEYTOWN_API_PORT']}", found[1], database)
    threading.Thread(target=_drain, args=(platform,), name="freshness-up-output", daemon=True).start()
    return platform


def _drain(platform: Platform) -> None:
    """`up` prints a status line every few seconds: read them, or its pipe would fill and stall it."""
    for line in platform.process.stdout:
        if line.strip():
            platform.status_lines.append(line.rstrip())


def stop_platform(process: subprocess.Popen) -> None:
    """Ctrl-C, as a person stops it: `up` stops its children and the embedded database before it exits."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        _progress(f"monkeytown up still running {STOP_SECONDS:g} s after Ctrl-C: SIGTERM, then SIGKILL")
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def leftover_processes(home: Path) -> list[str]:
    """Processes still running with the benchmark's MONKEYTOWN_HOME in their command line or environment: every
    one `up` started should be gone once it exited."""
    marker, left = str(home).encode(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours
        if marker in cmdline or marker in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            left.append(f"{entry.name} {command[:120]}")
    return left


# --- one sample --------------------------------------------------------------------------------------------


def post_game_start(platform: Platform, game_id: str) -> None:
    event = {"event_id": f"fresh-{game_id}", "type": "game_start", "game_id": game_id, "game_type": "chess",
             "session_id": "freshness"}
    request = urllib.request.Request(f"{platform.api}/api/events", data=json.dumps(event).encode(), headers={
        "Authorization": f"Bearer {platform.key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def seconds_until_in_marts(conn: psycopg.Connection, game_id: str, started: float, limit: float) -> float:
    """Seconds from `started` (time.monotonic) until marts.games has the game; inf past `limit`."""
    while time.monotonic() - started < limit:
        try:
            if conn.execute("SELECT 1 FROM marts.games WHERE game_id = %s", (game_id,)).fetchone():
                return time.monotonic() - started
        except psycopg.errors.UndefinedTable:
            pass  # before the first run has built the marts
        time.sleep(POLL_SECONDS)
    return float("inf")


def take_sample(platform: Platform, conn: psycopg.Connection, number: int, wait: float, limit: float) -> dict:
    time.sleep(wait)  # land at different moments of the sensor's cycle and of the runs
    game_id = uuid.uuid4().hex[:12]
    load = os.getloadavg()[0]
    posted_at, started = time.time(), time.monotonic()
    post_game_start(platform, game_id)
    seconds = seconds_until_in_marts(conn, game_id, started, limit)
    return {"number": number, "game_id": game_id, "waited_s": round(wait, 2), "posted_at": posted_at,
            "seen_at": posted_at + seconds if seconds != float("inf") else None, "seconds": seconds,
            "load_1min": load}


def landed(conn: psycopg.Connection, since: float, until: float) -> int:
    return conn.execute("SELECT count(*) FROM raw.events WHERE received_at >= %s AND received_at < %s",
                        (datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(until, UTC))).fetchone()[0]


# --- the benchmark -----------------------------------------------------------------------------------------------


def _dagster_records(platform: Platform, since: float) -> dict:
    from bench.freshness_dagster import read_runs  # imports Dagster: only once the samples are taken

    try:
        return read_runs(platform.database, platform.home, since)
    except Exception as error:  # noqa: BLE001 - the samples stand without their breakdown
        _progress(f"could not read Dagster's records: {type(error).__name__}: {error}")
        return {"error": f"{type(error).__name__}: {error}", "core_runs": 0, "core_statuses": {}, "other_jobs": {},
                "runs": [], "other_runs": []}


def run(samples: int, simulate: bool, limit: float = LIMIT_SECONDS) -> dict:
    started = datetime.now(UTC)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    code = machine.code_version(*CODE_PATHS)
    with tempfile.TemporaryDirectory(prefix="monkeytown-freshness-") as tmp:
        home = Path(tmp)
        _progress(f"starting monkeytown up{' --simulate' if simulate else ''} in {home}")
        platform_started = time.time()
        platform = start_platform(home, simulate)
        try:
            described = machine.describe(platform.database, embedded=True)
            with psycopg.connect(platform.database, autocommit=True) as conn:
                _progress("up; warm-up event (untimed: it waits for the first build of the marts)")
                warm_up = take_sample(platform, conn, 0, 0.0, limit)
                _progress(f"warm-up: {warm_up['seconds']:.1f} s")
                taken, timed_from = [], time.time()
                for number in range(1, samples + 1):
                    taken.append(take_sample(platform, conn, number, random.uniform(0, MAX_WAIT_SECONDS), limit))
                    _progress(f"sample {number}/{samples}: {taken[-1]['seconds']:.1f} s")
                timed_until = time.time()
                events = landed(conn, timed_from, timed_until)
            _progress("reading Dagster's records of the runs")
            dagster = _dagster_records(platform, platform_started)
        finally:
            _progress("stopping monkeytown up (Ctrl-C)")
            stop_platform(platform.process)
        left = leftover_processes(home)
        if left:
            _progress(f"WARNING: {len(left)} processes of the platform still running: {left}")
    for sample in (warm_up, *taken):
        sample["breakdown"] = breakdown(sample, dagster["runs"], dagster["other_runs"])
    core_in_timed = [r for r in dagster["runs"] if r["created_at"] >= timed_from]
    dagster["core_runs"] = len(core_in_timed)
    dagster["core_statuses"] = dict(collections.Counter(r["status"] for r in core_in_timed))
    dagster["other_jobs"] = dict(collections.Counter(
        r["job"] for r in dagster["other_runs"] if r["created_at"] >= timed_from))
    described |= {"load_average_at_start": load_at_start,
                  "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    return {
        "benchmark": "freshness", "started_at": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds()), "simulate": simulate,
        "plan": {"samples": samples, "max_wait_s": MAX_WAIT_SECONDS, "poll_s": POLL_SECONDS, "limit_s": limit},
        "machine": described, "code": code,
        "traffic": {"events": events, "seconds": timed_until - timed_from,
                    "events_per_s": events / max(timed_until - timed_from, 1e-9), "own_events": samples},
        "warm_up": warm_up, "samples": taken, "summary": summarize(taken, warm_up), "dagster": dagster,
        "up_status_lines": list(platform.status_lines), "leftover_processes": left,
    }


def _stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__.split("\n\n")[0])
    parser.add_argument("samples", nargs="?", type=int, default=20, help="timed samples (default 20)")
    parser.add_argument("--no-simulate", dest="simulate", action="store_false",
                        help="run `monkeytown up` without the simulator, for comparison")
    parser.add_argument("--limit", type=float, default=LIMIT_SECONDS,
                        help=f"seconds a sample waits before it counts as never (default {LIMIT_SECONDS:g})")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("at least one sample")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        result = run(args.samples, args.simulate, args.limit)
    except KeyboardInterrupt:
        print("bench.freshness: interrupted; the platform is stopped", file=sys.stderr)
        return 130
    text = markdown(result)
    json_path, md_path = write_reports(result, text, args.out, "freshness")
    print(text)
    _progress(f"wrote {md_path} and {json_path.name}")
    return 0 if not result["leftover_processes"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
