import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestration.definitions import defs as load_definitions
from orchestration.instance import instance_yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    """The code location as Dagster loads it, from settings that name no database."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MONKEYTOWN_DATABASE_URL", raising=False)
        env.setenv("MONKEYTOWN_HOME", str(tmp_path_factory.mktemp("home")))
        yield load_definitions()


def test_the_code_location_loads_every_mart_with_its_lineage_from_raw_events(defs):
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw/events", "marts/games", "marts/moves", "marts/players"} <= keys
    upstream_of_games = {k.to_user_string() for k in graph.upstream_key_iterator(
        next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "marts/games"))}
    assert "raw/events" in upstream_of_games


MARTS = ["games", "players", "moves", "agent_runs", "system_events", "game_activity_hourly", "game_activity_daily",
         "agent_activity_daily", "ingest_errors_daily", "leaderboard", "game_type_overview", "player_active_days",
         "retention_cohorts", "game_participants", "rating_history", "player_ratings"]


def upstream_of(graph, key: str) -> set[str]:
    node = next(k for k in graph.get_all_asset_keys() if k.to_user_string() == key)
    return {k.to_user_string() for k in graph.upstream_key_iterator(node)}


def ancestors_of(graph, key: str) -> set[str]:
    seen, todo = set(), [key]
    while todo:
        for parent in upstream_of(graph, todo.pop()) - seen:
            seen.add(parent)
            todo.append(parent)
    return seen


def test_every_mart_descends_from_the_landing_tables(defs):
    graph = defs.resolve_asset_graph()
    for mart in MARTS:
        assert {"raw/events"} & ancestors_of(graph, f"marts/{mart}") or mart == "ingest_errors_daily", mart
    assert "raw/ingest_errors" in ancestors_of(graph, "marts/ingest_errors_daily")


def test_rollups_are_partitioned_by_utc_day_and_the_rest_is_not(defs):
    graph = defs.resolve_asset_graph()
    partitioned = {key.to_user_string() for key in graph.get_all_asset_keys()
                   if graph.get(key).partitions_def is not None}
    assert partitioned == {"marts/game_activity_hourly", "marts/game_activity_daily", "marts/agent_activity_daily",
                           "marts/ingest_errors_daily", "retention/archived_event_days"}


def test_the_jobs_schedules_and_sensor_are_defined_with_retries(defs):
    assert {s.name for s in defs.schedules} == {"hourly_rollups", "hourly_dashboard_views", "daily_raw_events_upkeep",
                                                "daily_archive", "daily_player_privacy_and_housekeeping",
                                                "daily_dbt_docs", "every_five_minutes_pipeline_health"}
    assert {s.name for s in defs.sensors} == {"raw_events_arrivals", "dashboard_follows_core_runs",
                                              "dbt_docs_out_of_date", "pipeline_status",
                                              "mart_freshness", "mart_freshness_breaches", "run_failures"}
    for name in ("archive_expired_days", "player_privacy_and_housekeeping"):
        assert defs.resolve_job_def(name).tags["monkeytown/writes"] == "core_models"
    for name in ("refresh_core_models", "refresh_rollups", "refresh_dashboard_views", "archive_expired_days",
                 "build_dbt_docs"):
        assert defs.resolve_job_def(name).tags["dagster/max_retries"] == "2"


def test_the_core_run_goes_first_and_every_other_scheduled_job_runs_in_the_one_slot_of_the_background_lane(defs):
    jobs = {job.name: job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert jobs["refresh_core_models"].tags["dagster/priority"] == "10"
    assert "monkeytown/lane" not in jobs["refresh_core_models"].tags
    scheduled = {name for name in jobs if name not in ("refresh_core_models", "replay_refused_events_job")}
    background = {name for name in scheduled if jobs[name].tags.get("monkeytown/lane") == "background"}
    assert scheduled and background == scheduled
    queue = yaml.safe_load(instance_yaml())["run_coordinator"]["config"]
    assert queue["max_concurrent_runs"] == 2
    assert {"key": "monkeytown/lane", "value": "background", "limit": 1} in queue["tag_concurrency_limits"]


def test_dbt_tests_are_asset_checks(defs):
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert "unique_games_game_id" in checks
    assert "not_null_stg_raw__game_starts_game_type" in checks


def test_workspace_yaml_passes_dagster_validation():
    result = subprocess.run([str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w",
                             "workspace.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Validation successful for code location orchestration.definitions" in result.stdout + result.stderr


def test_each_job_runs_its_dbt_selections_and_the_quarantine_before_them(defs):
    from orchestration.dbt.assets import core_models, dashboard_views, player_models, rollup_models

    def selected(job: str) -> set[str]:
        return {key.to_user_string() for key in defs.resolve_job_def(job).asset_layer.selected_asset_keys}

    def keys(*assets) -> set[str]:
        return {key.to_user_string() for asset in assets for key in asset.keys}

    assert selected("refresh_core_models") == keys(core_models(), player_models()) | {"quality/raw_events_quarantine"}
    assert selected("refresh_rollups") == keys(rollup_models())
    assert selected("refresh_dashboard_views") == keys(dashboard_views())
    assert selected("build_dbt_docs") == {"docs/dbt_docs"}  # apart from the core run, which every arrival starts


def test_the_monitoring_assets_are_judged_and_every_mart_has_a_freshness_check(defs):
    checks = {key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    for metric in ("events_per_second", "error_rate", "storage_growth", "query_p95"):
        assert f"monitoring/{metric}:{metric}" in checks
    assert {f"marts/{mart}:freshness_check" for mart in MARTS} <= checks
    measuring = defs.resolve_job_def("measure_pipeline_health")
    assert {key.to_user_string() for key in measuring.asset_layer.selected_asset_keys} == {
        "monitoring/events_per_second", "monitoring/error_rate", "monitoring/storage_growth", "monitoring/query_p95"}
