"""Where the dbt project lives, how dbt reaches the active database, and the vars the code passes it (no Dagster
import here, so `monkeytown dbt` stays quick; resources.py holds the DbtProject Dagster reads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from ingest_api.contracts import dbt_vars

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
#: The venv's own dbt, so `.venv/bin/monkeytown` works without an activated venv.
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
#: Parsing renders profiles.yml but never connects, so placeholders will do.
_PARSE_CONNECTION = "postgresql://monkeytown@localhost:5432/monkeytown"


def dbt_connection_variables(database_url: str) -> dict[str, str]:
    """What profiles.yml reads: the connection split out of a libpq URL (socket or TCP)."""
    parts = conninfo_to_dict(database_url)
    return {
        "MONKEYTOWN_DBT_HOST": parts.get("host") or "localhost",
        "MONKEYTOWN_DBT_PORT": str(parts.get("port") or 5432),
        "MONKEYTOWN_DBT_USER": parts.get("user") or "postgres",
        "MONKEYTOWN_DBT_PASSWORD": parts.get("password") or "",
        "MONKEYTOWN_DBT_DBNAME": parts.get("dbname") or "postgres",
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",  # no network here, and no tracking id file in the project
    }


def dbt_environment(database_url: str, base: dict | None = None) -> dict:
    """The whole environment of a dbt process: `base` (default os.environ) and the connection for profiles.yml."""
    return dict(os.environ if base is None else base) | dbt_connection_variables(database_url)


#: A scheduled build: models and data tests. Unit tests check the SQL on fixed rows, not the data; CI runs them
#: (`monkeytown dbt build` in the suite), and rerunning them on every hour of arrivals learns nothing.
SCHEDULED_BUILD = ("build", "--exclude-resource-type", "unit_test")


def dbt_vars_args(window: dict[str, object] | None = None) -> list[str]:
    """`--vars` with the door's facts dbt reads (ingest_api.contracts.dbt_vars) and, for the rollups, a window
    (or other vars of one invocation, such as rebuild_history).
    Every parse and build passes the same facts: dbt parses the whole project again when its vars change."""
    return ["--vars", json.dumps(dbt_vars() | (window or {}), sort_keys=True)]


def dbt_command(args: list[str]) -> list[str]:
    return [str(DBT_EXECUTABLE), *args]


def parse_for(database_url: str) -> None:
    """Writes target/manifest.json. dbt parses the whole project again whenever the connection differs from its
    last parse's (it hashes it); parsing once for the active database lets every run after this one parse
    partially (2-3 s less)."""
    subprocess.run(dbt_command(["parse", "--quiet", *dbt_vars_args()]), env=dbt_environment(database_url),
                   cwd=DBT_PROJECT_DIR, check=True, timeout=600)


def parse_offline() -> None:
    """Writes target/manifest.json before any database exists (parsing renders profiles.yml, never connects)."""
    parse_for(_PARSE_CONNECTION)


if __name__ == "__main__":  # `make install`: the manifest Dagster reads
    parse_offline()
    print(DBT_PROJECT_DIR / "target" / "manifest.json")
