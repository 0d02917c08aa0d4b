"""What the figures were measured on: they mean little without it."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import gunicorn
import psycopg

from ingest_api import gunicorn_conf


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return float("nan")


def describe(database_url: str, embedded: bool) -> dict:
    with psycopg.connect(database_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('synchronous_commit', 'fsync', 'wal_sync_method', 'shared_buffers', 'max_wal_size')"
        ).fetchall())
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": version + (" (embedded)" if embedded else " (MONKEYTOWN_DATABASE_URL)"),
        "postgresql_settings": settings,
        "gunicorn": f"{gunicorn.__version__}: {gunicorn_conf.workers} workers x {gunicorn_conf.threads} "
                    f"threads, {gunicorn_conf.worker_class}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def code_version(*paths: str) -> dict:
    """The commit measured, and the files under `paths` with uncommitted changes (the figures belong to the code
    as it was)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", *paths).splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown",
            "uncommitted": sorted(line[3:] for line in changed if line.strip())}
