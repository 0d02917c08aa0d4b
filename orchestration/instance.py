"""The Dagster instance `monkeytown up` runs: DAGSTER_HOME under MONKEYTOWN_HOME, and run, event-log and
schedule storage in its own database on the platform's PostgreSQL (no Dagster import here)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

STORAGE_URL_VARIABLE = "MONKEYTOWN_DAGSTER_STORAGE_URL"

INSTANCE_TEMPLATE = f"""# Written by `monkeytown up`; the storage URL comes from the environment, never from this file.
storage:
  postgres:
    postgres_url:
      env: {STORAGE_URL_VARIABLE}
# Runs wait in a queue: at most two at once on a small machine, one that merges the core marts, and one of the
# background lane (rollups, dashboard views, docs, monitoring, retention), so the core run always finds a slot.
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
    tag_concurrency_limits:
      - key: monkeytown/writes
        value: core_models
        limit: 1
      - key: monkeytown/lane
        value: background
        limit: 1
# A failed run is retried from its failed step, as many times as its dagster/max_retries tag allows.
run_retries:
  enabled: true
# The daemon purges finished ticks as it goes; retention's housekeeping prunes runs and stopped schedules' ticks.
retention:
  schedule:
    purge_after_days: {{skipped: {{history_days}}, success: {{history_days}}, failure: {{history_days}}}}
  sensor:
    purge_after_days: {{skipped: 7, success: {{history_days}}, failure: {{history_days}}}}
telemetry:
  enabled: false
"""


def instance_yaml(history_days: int = 30) -> str:
    """dagster.yaml, with ticks kept `history_days` (MONKEYTOWN_PRUNE_HISTORY_DAYS)."""
    return INSTANCE_TEMPLATE.replace("{history_days}", str(history_days))


def storage_database_url(database_url: str) -> str:
    """The URL of `<database>_dagster`, beside the platform's database: Dagster's runs, event log, schedules."""
    return make_conninfo(database_url, dbname=f"{conninfo_to_dict(database_url).get('dbname') or 'postgres'}_dagster")


def create_storage_database(database_url: str) -> None:
    """Creates the storage database beside the platform's database if missing."""
    name = conninfo_to_dict(storage_database_url(database_url))["dbname"]
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        # the webserver, daemon and code server may start at once, each preparing the instance
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def as_sqlalchemy_url(conninfo: str) -> str:
    """dagster-postgres wants a SQLAlchemy URL on psycopg2 (SQLAlchemy 2.1 would pick psycopg 3, whose
    server-side parameters break its NOTIFY); a socket directory goes in the query string."""
    parts = conninfo_to_dict(conninfo)
    host, port = parts.get("host") or "localhost", parts.get("port") or "5432"
    auth = parts.get("user") or "postgres"
    if parts.get("password"):
        auth += ":" + parts["password"]
    if host.startswith("/"):
        return f"postgresql+psycopg2://{auth}@/{parts['dbname']}?host={host}&port={port}"
    return f"postgresql+psycopg2://{auth}@{host}:{port}/{parts['dbname']}"


def dagster_home(home: Path) -> Path:
    return Path(home).resolve() / "dagster"


def prepare_instance(database_url: str, home: Path, history_days: int = 30) -> Path:
    """What `monkeytown up`'s webserver and daemon need before they start: DAGSTER_HOME with its dagster.yaml,
    and the storage database. Returns DAGSTER_HOME."""
    folder = dagster_home(home)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(instance_yaml(history_days))
    create_storage_database(database_url)
    return folder
