"""Where the dbt project lives and how dbt reaches the active database (no Dagster import here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
#: The venv's own dbt, so `.venv/bin/monkeytown` works without an activated venv.
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")


def dbt_environment(database_url: str, base: dict | None = None) -> dict:
    """The environment profiles.yml reads: the connection split out of a libpq URL (socket or TCP)."""
    parts = conninfo_to_dict(database_url)
    env = dict(os.environ if base is None else base)
    env.update(
        MONKEYTOWN_DBT_HOST=parts.get("host") or "localhost",
        MONKEYTOWN_DBT_PORT=str(parts.get("port") or 5432),
        MONKEYTOWN_DBT_USER=parts.get("user") or "postgres",
        MONKEYTOWN_DBT_PASSWORD=parts.get("password") or "",
        MONKEYTOWN_DBT_DBNAME=parts.get("dbname") or "postgres",
        DBT_PROFILES_DIR=str(DBT_PROJECT_DIR),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",  # no network here, and no tracking id file in the project
        DBT_PROJECT_DIR=str(DBT_PROJECT_DIR),
    )
    return env


def dbt_command(args: list[str]) -> list[str]:
    return [str(DBT_EXECUTABLE), *args]
