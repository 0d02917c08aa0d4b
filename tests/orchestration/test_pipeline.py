"""`monkeytown pipeline` against a real database: everything materializes; a failing dbt test fails it."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from orchestration.dbt.project import dbt_environment
from orchestration.pipeline import materialize_everything
from tests.dbt.test_marts import script
from tests.dbt.test_staging import land_events


def run_pipeline(url: str, home) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONKEYTOWN_")}
    env["MONKEYTOWN_DATABASE_URL"] = url
    env["MONKEYTOWN_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "ingest_api.cli", "pipeline"], env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_pipeline_materializes_every_asset_from_landed_events(make_database, tmp_path):
    url = make_database()
    land_events(url, script())
    result = run_pipeline(url, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "every asset materialized" in result.stdout
    assert "[1/4] core models: ok, 12 assets materialized" in result.stdout
    assert "[4/4] dashboard views: ok, 2 assets materialized" in result.stdout
    assert "STEP_SUCCESS" not in result.stdout + result.stderr
    assert "STEP_SUCCESS" in (tmp_path / "logs" / "pipeline.log").read_text()  # Dagster's own log went there
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM marts.games").fetchone()[0] == 4
        assert conn.execute("SELECT sum(games_played) FROM marts.players").fetchone()[0] == 4


@pytest.fixture
def dbt_env(monkeypatch, make_database):
    url = make_database()
    for name, value in dbt_environment(url, base={}).items():
        monkeypatch.setenv(name, value)
    return url


def test_a_failing_dbt_test_is_a_failed_asset_check_and_fails_the_run(dbt_env):
    with psycopg.connect(dbt_env, autocommit=True) as conn:  # a faulty loader writing straight into raw.events
        conn.execute(
            "INSERT INTO raw.events (event_id, type, contract_version, occurred_at, received_at, source, payload)"
            " VALUES ('bad1', 'game_start', 1, now(), now(), 'client', '{\"game_id\": \"g\"}')")
    progress = []
    outcome = materialize_everything(progress=progress.append)
    assert not outcome.success
    assert "staging/stg_raw__game_starts:not_null_stg_raw__game_starts_game_type" in outcome.failed_checks
    assert progress[-1].startswith("[1/4] core models: FAILED")  # the rollups and views never ran
    [core] = outcome.results
    materialized = {e.asset_key.to_user_string() for e in core.get_asset_materialization_events()}
    assert "marts/games" not in materialized  # downstream of the failed check: not built in that run
