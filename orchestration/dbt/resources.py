"""The dbt project as Dagster reads it, and the dbt CLI resource pointed at the venv's own dbt."""

from __future__ import annotations

from functools import cache, cached_property
from importlib import metadata

from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from orchestration.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_vars_args


@cache
def dbt_project() -> DbtProject:
    """Under `dagster dev` its manifest is parsed again when the code location loads; elsewhere the one
    `make install`, `monkeytown up` or `monkeytown pipeline` parsed is read (orchestration.dbt.project)."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR,
                         prepare_project_cli_args=["parse", "--quiet", *dbt_vars_args()])
    project.prepare_if_dev()
    return project


class VenvDbtCliResource(DbtCliResource):
    """The venv's own dbt, whose version is the installed dbt-core's: dagster-dbt would otherwise start
    `dbt --version` (about 2 s of CPU here) in every run to learn it."""

    @cached_property
    def _cli_version(self) -> Version:  # dagster-dbt's private property, read before each invocation
        return Version(metadata.version("dbt-core"))


def dbt_resource() -> DbtCliResource:
    return VenvDbtCliResource(project_dir=dbt_project(), dbt_executable=str(DBT_EXECUTABLE))
