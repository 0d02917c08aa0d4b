"""The dbt CLI resource, pointed at the venv's own dbt."""

from dagster_dbt import DbtCliResource

from orchestration.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR),
                          dbt_executable=str(DBT_EXECUTABLE))
