"""The dbt project as Dagster reads it, and the dbt CLI resource pointed at the venv's own dbt."""

from __future__ import annotations

from functools import cache

from dagster_dbt import DbtCliResource, DbtProject

from orchestration.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_vars_args


@cache
def dbt_project() -> DbtProject:
    """Under `dagster dev` its manifest is parsed again when the code location loads; elsewhere the one
    `make install`, `monkeytown up` or `monkeytown pipeline` parsed is read (orchestration.dbt.project)."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR,
                         prepare_project_cli_args=["parse", "--quiet", *dbt_vars_args()])
    project.prepare_if_dev()
    return project


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project(), dbt_executable=str(DBT_EXECUTABLE))
