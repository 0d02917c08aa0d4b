"""What a data engineer sees in the Dagster UI: every asset in the group of its layer, with kinds and owners,
and the dbt models with their descriptions and column docs from the dbt project."""

from __future__ import annotations

import json

import pytest

from orchestration.dbt.assets import TRANSLATOR
from orchestration.dbt.resources import dbt_project
from orchestration.dbt.translator import layer_of, owners_of
from orchestration.definitions import build_definitions

LAYERS = {"raw", "staging", "intermediate", "marts", "rollups", "dashboard", "quality", "retention", "monitoring",
          "docs"}


@pytest.fixture(scope="module")
def graph():
    return build_definitions(database_url=None).resolve_asset_graph()


@pytest.fixture(scope="module")
def models() -> dict:
    manifest = json.loads(dbt_project().manifest_path.read_text())
    return {TRANSLATOR.get_asset_key(node).to_user_string(): node for node in manifest["nodes"].values()
            if node["resource_type"] == "model"}


def test_no_asset_is_left_in_the_default_group_and_each_has_kinds_and_owners(graph):
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name in LAYERS, (key, node.group_name)
        assert node.kinds, key
        assert node.owners, key


def test_each_layer_is_a_group(graph):
    group = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert group["raw/events"] == group["raw/ingest_errors"] == "raw"
    assert group["quality/raw_events_quarantine"] == "quality"
    assert group["staging/stg_raw__game_starts"] == "staging"
    assert group["intermediate/int_game_events"] == "intermediate"
    assert group["marts/games"] == group["marts/players"] == "marts"
    assert group["marts/game_activity_daily"] == group["marts/ingest_errors_daily"] == "rollups"
    assert group["marts/leaderboard"] == "dashboard"
    assert group["retention/archived_event_days"] == group["retention/raw_events_days"] == "retention"
    assert group["monitoring/error_rate"] == group["monitoring/query_p95"] == "monitoring"
    assert group["docs/dbt_docs"] == "docs"
    assert set(group.values()) == LAYERS


def test_kinds_name_the_tools(graph):
    kinds = {key.to_user_string(): graph.get(key).kinds for key in graph.get_all_asset_keys()}
    assert kinds["marts/games"] == {"dbt", "postgres"}
    assert kinds["quality/raw_events_quarantine"] == {"great_expectations", "postgres"}
    assert kinds["raw/events"] == {"postgres"}


def test_dbt_models_carry_their_descriptions_and_column_docs(graph, models):
    assert len(models) >= 18
    for key, model in models.items():
        node = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == key))
        assert model["description"] and node.description.startswith(model["description"]), key
        documented = {name: column["description"] for name, column in model["columns"].items()}
        schema = node.metadata["dagster/column_schema"]
        assert {column.name: column.description for column in schema.columns} == documented, key


def test_the_layer_is_the_innermost_layer_folder():
    assert layer_of(["monkeytown", "staging", "raw", "stg_raw__moves"]) == "staging"
    assert layer_of(["monkeytown", "marts", "rollups", "game_activity_daily"]) == "rollups"
    assert layer_of(["monkeytown", "marts", "games"]) == "marts"
    assert layer_of(["monkeytown", "elsewhere", "model"]) is None


def test_a_model_may_name_its_owner_in_meta():
    assert owners_of({"meta": {"owner": "team:analytics"}}) == ["team:analytics"]
    assert owners_of({"config": {"meta": {"owner": ["ana@example.com"]}}}) == ["ana@example.com"]
    assert owners_of({"meta": {}}) is None
    assert TRANSLATOR.get_owners({"meta": {}}) == ["team:data-engineering"]
