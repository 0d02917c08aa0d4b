"""The environment Dagster's processes need, derived from two settings (the database and MONKEYTOWN_HOME):
written once for `monkeytown up` and `monkeytown pipeline`, the benchmarks, the tests and the code location
itself. No Dagster import."""

from __future__ import annotations

import os
from pathlib import Path

from monkeytown.database import EmbeddedDatabaseError, running_database_url
from monkeytown.settings import Settings
from orchestration.dbt.project import DBT_EXECUTABLE, dbt_connection_variables
from orchestration.instance import STORAGE_URL_VARIABLE, as_sqlalchemy_url, dagster_home, storage_database_url
from orchestration.quality.environment import quality_environment


def code_location_environment(database_url: str, home: Path) -> dict[str, str]:
    """What the code location's work reads, in every process that loads it: the settings themselves, the
    connection profiles.yml reads, GX's data source, results and Data Docs, and the venv's dbt first on PATH
    (`dagster dev` runs `dbt parse` by name)."""
    home = Path(home).resolve()
    return {
        "MONKEYTOWN_DATABASE_URL": database_url,
        "MONKEYTOWN_HOME": str(home),
        **dbt_connection_variables(database_url),
        **quality_environment(database_url, home),
        "PATH": venv_first(os.environ.get("PATH", os.defpath)),
    }


def dagster_environment(database_url: str, home: Path) -> dict[str, str]:
    """Every variable Dagster's processes need beyond what they inherit: the code location's, then DAGSTER_HOME
    and the URL of the instance's storage (orchestration.instance.prepare_instance makes both)."""
    return code_location_environment(database_url, home) | {
        "DAGSTER_HOME": str(dagster_home(home)),
        STORAGE_URL_VARIABLE: as_sqlalchemy_url(storage_database_url(database_url)),
    }


def code_location_database(settings: Settings) -> str | None:
    """The configured database, or the embedded one while `monkeytown up` runs it. None: neither; the code
    location still loads, and a run then asks for MONKEYTOWN_DATABASE_URL."""
    if settings.database_url:
        return settings.database_url
    try:
        return running_database_url(settings)
    except EmbeddedDatabaseError:
        return None


def venv_first(path: str) -> str:
    folders = [folder for folder in path.split(os.pathsep) if folder]
    venv = str(DBT_EXECUTABLE.parent)
    return os.pathsep.join([venv, *(folder for folder in folders if folder != venv)])
