"""CPU used by process trees (API, hello-world, PostgreSQL, the benchmark's own client) and by everything
else on the machine, read from /proc: where a measurement's time went, and how noisy the machine was."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg

TICKS = os.sysconf("SC_CLK_TCK")


def postmaster_pid(database_url: str) -> int | None:
    """The postmaster's pid when the server runs on this machine (for CPU accounting), else None."""
    with psycopg.connect(database_url) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:  # while the connection is open: its backend exits with it
            stat = Path(f"/proc/{backend}/stat").read_text()
        except OSError:
            return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of it and of its reaped children)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        # children that exit are reaped by their parent and move into its cutime/cstime, so nothing is lost
        found[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / TICKS)
    return found


def _tree(processes: dict[int, tuple[int, float]], root: int, other_roots: set[int]) -> dict[int, float]:
    """The root and its descendants, minus other roots' trees (the servers are the bench's children)."""
    members, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        if pid in processes:
            members[pid] = processes[pid][1]
            frontier.extend(child for child, (parent, _) in processes.items()
                            if parent == pid and child not in other_roots)
    return members


def _machine_busy() -> float:
    """CPU seconds the whole machine spent not idle."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS


def snapshot(roots: dict[str, int]) -> dict:
    processes = _processes()
    return {"wall": time.perf_counter(), "machine": _machine_busy(), "roots": dict(roots),
            "trees": {name: _tree(processes, pid, set(roots.values())) for name, pid in roots.items()}}


def _worker_cores(before: dict, after: dict, name: str, wall: float) -> list[float]:
    """Cores used by each process of a server's tree but its root (the master: gunicorn's arbiter, granian's
    main process), busiest first; a worker that did nothing shows as 0.0."""
    root, old = after["roots"][name], before["trees"].get(name, {})
    return sorted((round((s - old.get(pid, 0.0)) / wall, 3) for pid, s in after["trees"].get(name, {}).items()
                   if pid != root), reverse=True)


def usage(before: dict, after: dict, servers: tuple[str, ...] = ("api",)) -> dict:
    """Cores used by each tree between two snapshots, by everything else on the machine ("other"), and by
    each worker of each of `servers` ("<name>_workers"; workers may not split the connections evenly)."""
    wall = after["wall"] - before["wall"]
    cores = {name: (sum(pids.values()) - sum(before["trees"].get(name, {}).values())) / wall
             for name, pids in after["trees"].items()}
    cores["other"] = max(0.0, (after["machine"] - before["machine"]) / wall - sum(cores.values()))
    cores = {name: round(value, 3) for name, value in cores.items()}
    for name in servers:
        if name in after["roots"]:
            cores[f"{name}_workers"] = _worker_cores(before, after, name, wall)
    return cores
