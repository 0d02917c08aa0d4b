"""`monkeytown pipeline` against a real database: everything materializes, with a line per step (a failing
check failing the run is in tests/quality)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg

from tests.dbt.test_marts import script
from tests.dbt.test_staging import land_events


def run_pipeline(url: str, home) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONKEYTOWN_")}
    env["MONKEYTOWN_DATABASE_URL"] = url
    env["MONKEYTOWN_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "monkeytown.cli", "pipeline"], env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_pipeline_materializes_every_asset_from_landed_events(make_database, tmp_path):
    url = make_database()
    land_events(url, script())
    result = run_pipeline(url, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "every asset materialized" in result.stdout
    # core models, one run over the rollup days (two; three in the hour after midnight UTC), the dashboard views
    assert "[1/3] core models: ok, 18 assets materialized" in result.stdout
    assert re.search(r"\[2/3\] rollups \d{4}-\d\d-\d\d\.\.\d{4}-\d\d-\d\d: ok, (8|12) assets materialized",
                     result.stdout), result.stdout
    assert "[3/3] dashboard views: ok, 2 assets materialized" in result.stdout
    assert (home_data_docs := tmp_path / "data_docs" / "index.html").is_file(), home_data_docs
    assert "STEP_SUCCESS" not in result.stdout + result.stderr
    [log] = (tmp_path / "logs").glob("pipeline.*.log")  # one file per UTC day
    assert "STEP_SUCCESS" in log.read_text()  # Dagster's own log went there
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM marts.games").fetchone()[0] == 4
        assert conn.execute("SELECT sum(games_played) FROM marts.players").fetchone()[0] == 4
