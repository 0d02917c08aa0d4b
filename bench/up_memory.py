"""`python -m bench.up_memory [SOURCE_DIR]`: the resident memory of an idle `monkeytown up`.

Starts `monkeytown up` (no simulator) in a fresh MONKEYTOWN_HOME on free ports, waits for its banner and a minute of
idling, then sums RSS, PSS (each shared page divided among the processes that map it: the sum is what the tree
occupies, where RSS counts a page gunicorn's master shares with its workers once per process) and USS (each
process's own pages) over its process tree, leaving out runs the sensors launched
meanwhile (they are work, not the idle platform), prints the largest processes, and stops it with Ctrl-C. The
embedded PostgreSQL runs outside that tree and is not counted. SOURCE_DIR (a checkout of another commit) is put first
on PYTHONPATH, to measure that commit beside this one with the same venv.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.stack import free_port

IDLE_SECONDS = 60
#: What a run's processes run: left out of the idle figure.
RUN_MARKERS = ("spawn_main", "execute_run", "execute_step", "dbt ")


def footprint(root: int) -> tuple[int, int, int, list[tuple[int, int, int, str]]]:
    """(RSS, PSS, USS, [(PSS, RSS, USS, command)]) of `root` and its descendants, runs left out."""
    rss = pss = uss = 0
    rows = []
    for process in [psutil.Process(root), *psutil.Process(root).children(recursive=True)]:
        try:
            command = " ".join(process.cmdline())
            if any(marker in command for marker in RUN_MARKERS):
                continue
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        rss, pss, uss = rss + info.rss, pss + info.pss, uss + info.uss
        rows.append((info.pss, info.rss, info.uss, command))
    return rss, pss, uss, sorted(rows, reverse=True)


def main(argv: list[str]) -> int:
    home = Path(tempfile.mkdtemp(prefix="monkeytown-up-memory-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONKEYTOWN_")}
    env.update(MONKEYTOWN_HOME=str(home), MONKEYTOWN_API_PORT=str(free_port()),
               MONKEYTOWN_DAGSTER_PORT=str(free_port()))
    if argv:
        env["PYTHONPATH"] = argv[0]
    up = subprocess.Popen([sys.executable, "-m", "monkeytown.cli", "up"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        for line in up.stdout:
            if line.startswith("Press Ctrl-C"):
                break
        time.sleep(IDLE_SECONDS)
        rss, pss, uss, rows = footprint(up.pid)
        for proportional, resident, own, command in rows[:12]:
            print(f"{proportional / 2**20:7.0f} MB PSS {resident / 2**20:7.0f} MB RSS {own / 2**20:7.0f} MB USS  "
                  f"{command[:100]}")
        print(f"monkeytown up idle: {len(rows)} processes, RSS {rss / 2**20:.0f} MB, PSS {pss / 2**20:.0f} MB, "
              f"USS {uss / 2**20:.0f} MB (embedded PostgreSQL not counted)")
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
