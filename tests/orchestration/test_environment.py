"""The environment Dagster's processes need, derived from the database URL and MONKEYTOWN_HOME; and the code
location loading from the MONKEYTOWN_* settings alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monkeytown.settings import load_settings
from orchestration.definitions import defs
from orchestration.environment import code_location_database, code_location_environment, dagster_environment

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture
def environ_restored():
    """Loading the code location exports what it derives into this process: put the environment back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_one_environment_for_dagster_dbt_and_great_expectations(tmp_path):
    env = dagster_environment("postgresql://alice:s3cret@db.example:6543/monkeytown", tmp_path)
    home = tmp_path.resolve()
    assert env["MONKEYTOWN_DATABASE_URL"] == "postgresql://alice:s3cret@db.example:6543/monkeytown"
    assert env["MONKEYTOWN_HOME"] == str(home)
    assert {name: env[name] for name in ("MONKEYTOWN_DBT_HOST", "MONKEYTOWN_DBT_PORT", "MONKEYTOWN_DBT_USER",
                                         "MONKEYTOWN_DBT_PASSWORD", "MONKEYTOWN_DBT_DBNAME")} == {
        "MONKEYTOWN_DBT_HOST": "db.example", "MONKEYTOWN_DBT_PORT": "6543", "MONKEYTOWN_DBT_USER": "alice",
        "MONKEYTOWN_DBT_PASSWORD": "s3cret", "MONKEYTOWN_DBT_DBNAME": "monkeytown"}
    assert env["MONKEYTOWN_GX_URL"] == ("postgresql+psycopg2://alice:s3cret@db.example:6543/monkeytown"
                                        "?options=-csearch_path%3Dquality%20-cjit%3Doff")
    assert env["MONKEYTOWN_DATA_DOCS_DIR"] == str(home / "data_docs")
    assert env["MONKEYTOWN_GX_RESULTS_DIR"] == str(home / "gx" / "validations")
    assert env["DAGSTER_HOME"] == str(home / "dagster")
    assert env["MONKEYTOWN_DAGSTER_STORAGE_URL"] == "postgresql+psycopg2://alice:s3cret@db.example:6543/monkeytown_dagster"
    assert env["PATH"].split(os.pathsep)[0] == VENV_BIN
    assert all(isinstance(value, str) for value in env.values())


def test_a_socket_url_keeps_its_directory(tmp_path):
    env = dagster_environment("postgresql://postgres@/monkeytown?host=/run/pg&port=5433", tmp_path)
    assert (env["MONKEYTOWN_DBT_HOST"], env["MONKEYTOWN_DBT_PORT"]) == ("/run/pg", "5433")
    assert env["MONKEYTOWN_DAGSTER_STORAGE_URL"] == "postgresql+psycopg2://postgres@/monkeytown_dagster?host=/run/pg&port=5433"


def test_the_venv_comes_first_on_path_once(tmp_path):
    path = code_location_environment("postgresql://postgres@localhost/x", tmp_path)["PATH"]
    assert path.split(os.pathsep).count(VENV_BIN) == 1


def test_the_code_location_finds_its_database_in_the_settings(tmp_path):
    url = "postgresql://postgres@127.0.0.1:5432/elsewhere"
    assert code_location_database(load_settings({"MONKEYTOWN_DATABASE_URL": url})) == url
    assert code_location_database(load_settings({"MONKEYTOWN_HOME": str(tmp_path)})) is None  # nothing embedded runs


def test_loading_the_code_location_derives_what_dbt_and_gx_read(environ_restored, tmp_path):
    url = "postgresql://postgres@127.0.0.1:5432/elsewhere"
    expected = code_location_environment(url, tmp_path)
    for name in expected.keys() - {"PATH"}:
        os.environ.pop(name, None)
    os.environ.update(MONKEYTOWN_DATABASE_URL=url, MONKEYTOWN_HOME=str(tmp_path))
    defs()
    assert {name: os.environ.get(name) for name in expected} == expected


@pytest.mark.server_independent  # what it checks is how the code location is found, not what the database holds
def test_dagster_dev_loads_the_code_location_from_the_monkeytown_settings_alone(database_url, tmp_path):
    """As `dagster dev` would (it sets DAGSTER_IS_DEV_CLI, so the dbt project is parsed again on load), from a
    shell whose PATH does not have the venv."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DAGSTER_IS_DEV_CLI": "1",
           "MONKEYTOWN_DATABASE_URL": database_url, "MONKEYTOWN_HOME": str(tmp_path)}
    result = subprocess.run([str(Path(VENV_BIN) / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Validation successful for code location orchestration.definitions" in result.stdout + result.stderr


def test_the_instance_keeps_finished_ticks_as_long_as_the_history_setting(make_database, tmp_path, monkeypatch):
    import dagster as dg
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    from orchestration.instance import dagster_home, prepare_instance

    url = make_database(migrated=False)
    for name, value in dagster_environment(url, tmp_path).items():
        monkeypatch.setenv(name, value)
    prepare_instance(url, tmp_path, history_days=12)
    instance = dg.DagsterInstance.from_config(str(dagster_home(tmp_path)))
    schedule_days = instance.get_tick_retention_settings(InstigatorType.SCHEDULE)
    assert schedule_days[TickStatus.SUCCESS] == schedule_days[TickStatus.FAILURE] == 12
