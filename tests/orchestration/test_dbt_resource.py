"""The dbt resource Dagster's runs use: the venv's dbt, whose version it knows without starting dbt."""

from __future__ import annotations

import subprocess

from orchestration.dbt.project import DBT_EXECUTABLE
from orchestration.dbt.resources import dbt_resource


def test_the_version_dagster_dbt_reads_is_what_the_venvs_dbt_says():
    resource = dbt_resource()
    said = subprocess.run([str(DBT_EXECUTABLE), "--version"], capture_output=True, text=True, check=True).stdout
    assert resource.dbt_executable == str(DBT_EXECUTABLE)
    assert f"installed: {resource._cli_version}" in said  # the property dagster-dbt reads before each invocation
