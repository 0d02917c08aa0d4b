"""Where the dbt project lives, how dbt reaches the active database, and the manifest Dagster reads
(no Dagster import here, so `monkeytown dbt` stays quick)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
#: The venv's own dbt, so `.venv/bin/monkeytown` works without an activated venv.
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
#: Parsing renders profiles.yml but never connects, so placeholders will do.
_PARSE_CONNECTION = "postgresql://monkeytown@localhost:5432/monkeytown"
#: The whole URL too, for what Dagster itself reads (the sensor, the source assets' observations).
WAREHOUSE_URL_VARIABLE = "MONKEYTOWN_WAREHOUSE_URL"


def dbt_environment(database_url: str, base: dict | None = None) -> dict:
    """The environment profiles.yml reads (the connection split out of a libpq URL, socket or TCP), and the
    URL itself for Dagster."""
    parts = conninfo_to_dict(database_url)
    env = dict(os.environ if base is None else base)
    env.update(
        MONKEYTOWN_DBT_HOST=parts.get("host") or "localhost",
        MONKEYTOWN_DBT_PORT=str(parts.get("port") or 5432),
        MONKEYTOWN_DBT_USER=parts.get("user") or "postgres",
        MONKEYTOWN_DBT_PASSWORD=parts.get("password") or "",
        MONKEYTOWN_DBT_DBNAME=parts.get("dbname") or "postgres",
        DBT_PROFILES_DIR=str(DBT_PROJECT_DIR),
        **{WAREHOUSE_URL_VARIABLE: database_url},
        DBT_PROJECT_DIR=str(DBT_PROJECT_DIR),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",  # no network here, and no tracking id file in the project
    )
    return env


def dbt_command(args: list[str]) -> list[str]:
    return [str(DBT_EXECUTABLE), *args]


def _project_sources() -> list[Path]:
    files = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for folder in ("models", "macros", "tests"):
        files += [p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return files


def manifest_is_stale() -> bool:
    if not MANIFEST_PATH.exists():
        return True
    built = MANIFEST_PATH.stat().st_mtime
    return any(path.stat().st_mtime > built for path in _project_sources())


def prepare_manifest() -> Path:
    """Writes target/manifest.json with `dbt parse` when it is missing or older than the project's files
    (run by `make install`; afterwards only an edited project is parsed again)."""
    if manifest_is_stale():
        subprocess.run(dbt_command(["parse", "--quiet"]), env=dbt_environment(_PARSE_CONNECTION),
                       cwd=DBT_PROJECT_DIR, check=True)
    return MANIFEST_PATH


def parse_for(database_url: str) -> None:
    """dbt parses the whole project again whenever the connection differs from its last parse's (it hashes
    it); parsing once for the active database lets every run after this one parse partially (2-3 s less)."""
    subprocess.run(dbt_command(["parse", "--quiet"]), env=dbt_environment(database_url), cwd=DBT_PROJECT_DIR,
                   check=True)


if __name__ == "__main__":
    print(prepare_manifest())
