"""The contracts are declared once and served as JSON Schema and inside the OpenAPI document."""

import json
import re
from pathlib import Path

import pytest

from ingest_api.contracts import contracts
from ingest_api.openapi import openapi_document


def test_api_contracts_serves_one_versioned_json_schema_per_event_type(client):
    body = client.get("/api/contracts").get_json()["contracts"]
    assert set(body) == set(contracts())  # every contract in the folder, system events too
    assert {"game_start", "move", "game_end", "server_start", "agent_run"} <= set(body)
    start = body["game_start"]
    assert start["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert start["x-version"] == 1
    assert start["required"] == ["event_id", "type", "game_id", "game_type", "session_id"]
    assert body["move"]["required"] == ["event_id", "type", "game_id", "move_type"]
    assert body["game_end"]["required"] == ["event_id", "type", "game_id", "duration"]
    assert body["game_end"]["properties"]["duration"]["minimum"] == 0
    assert body["game_end"]["x-version"] == 2  # version 2 added the optional scores
    assert body["game_end"]["properties"]["scores"]["additionalProperties"]["type"] == "number"


def test_the_schemas_served_are_the_files_in_the_contracts_folder(client):
    folder = Path(__file__).parents[2] / "ingest_api" / "contracts"
    own = json.loads((folder / "move.schema.json").read_text())
    served = client.get("/api/contracts").get_json()["contracts"]["move"]
    for name, spec in own["properties"].items():
        assert served["properties"][name] == spec


def test_openapi_is_3_1_and_describes_exactly_the_routes_with_their_methods(client, app):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":  # Flask's <path:path> is OpenAPI's {path}
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes[path] = {m.lower() for m in rule.methods} - {"head", "options"}  # Flask answers these itself
    assert {path: set(item) - {"parameters"} for path, item in doc["paths"].items()} == routes


def test_the_document_served_is_the_one_the_schemathesis_test_fuzzes(client):
    assert client.get("/openapi.json").get_json() == openapi_document()


def test_the_event_schemas_are_the_contracts(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    for name in ("game_start", "move", "game_end", "agent_run"):
        assert schemas[name]["properties"] == contracts()[name].schema["properties"]
    assert "server_start" not in schemas  # clients cannot send it


def _resolve(doc: dict, item: dict) -> dict:
    while "$ref" in item:
        kind, name = item["$ref"].split("/")[-2:]
        item = doc["components"][kind][name]
    return item


@pytest.mark.parametrize("path", ["/api/events", "/api/agent-runs"])
def test_a_write_endpoint_documents_every_answer_it_gives(client, path):
    doc = client.get("/openapi.json").get_json()
    responses = doc["paths"][path]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "413", "415", "422", "429", "503"}
    for status in ("400", "401", "413", "415", "429", "503"):
        schema = _resolve(doc, responses[status])["content"]["application/json"]["schema"]
        assert _resolve(doc, schema)["required"] == ["error", "message"]
    for status in ("429", "503"):
        retry_after = _resolve(doc, _resolve(doc, responses[status])["headers"]["Retry-After"])
        assert retry_after["required"] is True
    assert _resolve(doc, responses["401"])["headers"]["WWW-Authenticate"]
    rejection = _resolve(doc, responses["422"]["content"]["application/json"]["schema"])
    assert {"$ref": "#/components/schemas/Error"} in rejection["allOf"]


def test_the_200_of_events_is_a_single_result_or_a_batch_with_one_result_per_event(client):
    doc = client.get("/openapi.json").get_json()
    ok = doc["paths"]["/api/events"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["oneOf"] == [{"$ref": "#/components/schemas/EventResult"}, {"$ref": "#/components/schemas/BatchResult"}]
    batch = doc["components"]["schemas"]["BatchResult"]
    assert batch["required"] == ["accepted", "duplicates", "rejected", "results"]
    assert doc["components"]["schemas"]["EventResult"]["properties"]["status"]["enum"] == [
        "accepted", "duplicate", "rejected"]


def test_every_get_documents_the_413_every_path_gives_to_an_oversized_body(client):
    doc = client.get("/openapi.json").get_json()
    gets = {path: item["get"] for path, item in doc["paths"].items() if "get" in item}
    assert {path: "413" in get["responses"] for path, get in gets.items()} == dict.fromkeys(gets, True)


def test_the_405_every_path_gives_to_another_method_is_described_with_its_allow_header(client):
    doc = client.get("/openapi.json").get_json()
    not_allowed = doc["components"]["responses"]["MethodNotAllowed"]
    assert _resolve(doc, not_allowed["headers"]["Allow"])["required"] is True
    assert not_allowed["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "405" in doc["info"]["description"]


@pytest.mark.parametrize("path", ["/openapi.json", "/api/contracts", "/healthz"])
def test_read_routes_need_no_key(client, path):
    assert client.get(path).status_code == 200
