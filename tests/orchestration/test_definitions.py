import subprocess
import sys
from pathlib import Path

from orchestration.definitions import defs

ROOT = Path(__file__).resolve().parents[2]


def test_the_code_location_loads_every_mart_with_its_lineage_from_raw_events():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw/events", "marts/games", "marts/moves", "marts/players"} <= keys
    upstream_of_games = {k.to_user_string() for k in graph.upstream_key_iterator(
        next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "marts/games"))}
    assert "raw/events" in upstream_of_games


def test_dbt_tests_are_asset_checks():
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert "unique_games_game_id" in checks
    assert "not_null_stg_raw__game_starts_game_type" in checks


def test_workspace_yaml_passes_dagster_validation():
    result = subprocess.run([str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w",
                             "workspace.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful for code location orchestration.definitions" in result.stdout + result.stderr
