"""How long a freshly ingested event takes to show up in the marts with the default automation: the whole
platform as `monkeytown up` runs it (embedded database, API, Dagster daemon with its arrivals sensor), one
game_start posted at a time, then marts.games polled until it is there. `python -m bench.freshness [N]`."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg

GOAL_SECONDS = 60
POLL_SECONDS = 0.25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_platform(home: Path) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONKEYTOWN_")}
    env |= {"MONKEYTOWN_HOME": str(home), "MONKEYTOWN_API_PORT": str(free_port()),
            "MONKEYTOWN_DAGSTER_PORT": str(free_port())}
    process = subprocess.Popen([sys.executable, "-m", "monkeytown.cli", "up"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    banner = ""
    for line in process.stdout:
        banner += line
        if "Press Ctrl-C" in line:
            break
    key = re.search(r"Write key\s+(\S+)", banner)[1]
    database = subprocess.run([sys.executable, "-m", "monkeytown.cli", "db", "url"], env=env, text=True,
                              capture_output=True, check=True).stdout.strip()
    return process, {"api": f"http://127.0.0.1:{env['MONKEYTOWN_API_PORT']}", "key": key, "database": database}


def post_game_start(platform: dict, game_id: str) -> None:
    event = {"event_id": f"fresh-{game_id}", "type": "game_start", "game_id": game_id, "game_type": "chess",
             "session_id": "freshness"}
    request = urllib.request.Request(f"{platform['api']}/api/events", data=json.dumps(event).encode(), headers={
        "Authorization": f"Bearer {platform['key']}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def seconds_until_in_marts(database: str, game_id: str, limit: float = 300) -> float:
    started = time.monotonic()
    with psycopg.connect(database, autocommit=True) as conn:
        while time.monotonic() - started < limit:
            try:
                if conn.execute("SELECT 1 FROM marts.games WHERE game_id = %s", (game_id,)).fetchone():
                    return time.monotonic() - started
            except psycopg.errors.UndefinedTable:
                pass  # before the first run has built the marts
            time.sleep(POLL_SECONDS)
    return float("inf")


def measure(samples: int) -> list[float]:
    latencies = []
    with tempfile.TemporaryDirectory(prefix="monkeytown-freshness-") as home:
        process, platform = start_platform(Path(home))
        try:
            for number in range(samples):
                time.sleep(random.uniform(0, 20))  # land at different moments of the sensor's cycle and of the runs
                game_id = uuid.uuid4().hex[:12]
                post_game_start(platform, game_id)
                latencies.append(seconds_until_in_marts(platform["database"], game_id))
                print(f"sample {number + 1}/{samples}: {latencies[-1]:.1f} s", file=sys.stderr, flush=True)
        finally:
            process.send_signal(2)
            process.wait(timeout=120)
    return latencies


def main(argv: list[str]) -> int:
    samples = int(argv[0]) if argv else 7
    latencies = measure(samples)
    print(f"freshness over {samples} events: median {statistics.median(latencies):.1f} s, "
          f"max {max(latencies):.1f} s (goal <= {GOAL_SECONDS} s; the first includes building the marts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
