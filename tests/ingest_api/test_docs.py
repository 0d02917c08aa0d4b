"""The contracts are declared once and served as JSON Schema and inside the OpenAPI document."""

import json
import re
from pathlib import Path

import pytest

from ingest_api.contracts import contracts


def test_api_contracts_serves_one_versioned_json_schema_per_event_type(client):
    body = client.get("/api/contracts").get_json()["contracts"]
    assert set(body) == {"game_start", "move", "game_end", "server_start", "agent_run"}
    start = body["game_start"]
    assert start["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert start["x-version"] == 1
    assert start["required"] == ["event_id", "type", "game_id", "game_type", "session_id"]
    assert body["move"]["required"] == ["event_id", "type", "game_id", "move_type"]
    assert body["game_end"]["required"] == ["event_id", "type", "game_id", "duration"]
    assert body["game_end"]["properties"]["duration"]["minimum"] == 0


def test_the_schemas_served_are_the_files_in_the_contracts_folder(client):
    folder = Path(__file__).parents[2] / "ingest_api" / "contracts"
    own = json.loads((folder / "move.schema.json").read_text())
    served = client.get("/api/contracts").get_json()["contracts"]["move"]
    for name, spec in own["properties"].items():
        assert served["properties"][name] == spec


def test_openapi_is_3_1_and_describes_every_route_with_the_contracts(client, app):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # Flask's <path:path> is OpenAPI's {path}
              for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert routes <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    for name in ("game_start", "move", "game_end"):
        assert schemas[name]["properties"] == contracts()[name].schema["properties"]
    assert "server_start" not in schemas  # clients cannot send it
    post = doc["paths"]["/api/events"]["post"]
    assert {"200", "400", "401", "413", "415", "422", "503"} <= set(post["responses"])


@pytest.mark.parametrize("path", ["/openapi.json", "/api/contracts", "/healthz"])
def test_read_routes_need_no_key(client, path):
    assert client.get(path).status_code == 200
