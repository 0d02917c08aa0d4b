"""The OpenAPI 3.1 document, built from the event contracts so the two never disagree."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from ingest_api.body import MAX_BODY_BYTES
from ingest_api.contracts import (
    AGENT_RUNS_ENDPOINT,
    DOOR_REASONS,
    EVENTS_ENDPOINT,
    MAX_EVENT_AGE,
    DoorWarning,
    body_contract,
    contracts,
    contracts_at,
)
from ingest_api.door import MAX_EVENT_BYTES
from ingest_api.ingest import MAX_BATCH_EVENTS


def package_version() -> str:
    try:
        return version("monkeytown-analytics")
    except PackageNotFoundError:
        return "0+unknown"


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _unavailable() -> dict:
    response = _error("The database is unavailable; retry after the Retry-After seconds.")
    response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response


_RESULT = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"enum": ["accepted", "duplicate", "rejected"]},
        "event_id": {"type": "string"},
        "reason": {"enum": list(DOOR_REASONS), "description": "Why it was rejected."},
        "field": {"type": "string", "description": "The field at fault."},
        "message": {"type": "string"},
        "warnings": {"type": "array", "items": {"enum": list(DoorWarning)},
                     "description": "Accepted with a warning (anonymous_player), "
                     "or refused with one (stale)."},
        "conflict": {"type": "boolean", "description": "A duplicate whose payload differs from the stored one "
                     "(the first is kept; the conflict is recorded in raw.ingest_errors)."},
        "ignored_fields": {"type": "array", "items": {"type": "string"},
                           "description": "Server-owned fields the client sent; ignored."},
    },
}
_AGENT_RUN_RESULT = {**_RESULT, "properties": {
    **_RESULT["properties"],
    "run_id": {"type": "string", "description": "The run_id as stored (an integer becomes its decimals)."},
    "event_id": {"type": "string", "description": "agent_run:<run_id>, the run's event_id in raw.events."},
}}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _write_errors(bad_request: str, too_large: str) -> dict:
    """The answers every write endpoint shares, before or around the door."""
    return {
        "400": _error(bad_request),
        "401": _error("Missing or invalid write key."),
        "413": _error(too_large),
        "415": _error("Content-Type is not application/json, or Content-Encoding is not gzip."),
        "429": {**_error("This write key is over MONKEYTOWN_RATE_LIMIT."),
                "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
        "503": _unavailable(),
    }


def _agent_runs_path() -> dict:
    run_contract = body_contract(AGENT_RUNS_ENDPOINT).type
    return {"post": {
        "summary": "Record one agent run posted by CI",
        "description": "Lands in raw.events as type agent_run (source ci) with event_id agent_run:<run_id>, "
                       "through the same door rules as events: the same run_id again is a duplicate, "
                       f"finished_at more than {MAX_EVENT_AGE.total_seconds() / 3600:g} h old is stale. "
                       "One JSON object per request; "
                       "`Content-Encoding: gzip` accepted. A 2xx is sent only after the run is committed.",
        "security": [{"writeKey": []}],
        "requestBody": {"required": True, "content": _json({"$ref": f"#/components/schemas/{run_contract}"})},
        "responses": {
            "200": {"description": "The run's result: accepted, or duplicate (with conflict when it differs).",
                    "content": _json({"$ref": "#/components/schemas/AgentRunResult"})},
            "422": {"description": "The run was rejected; the body names the reason and field.",
                    "content": _json({"allOf": [{"$ref": "#/components/schemas/Error"},
                                                {"$ref": "#/components/schemas/AgentRunResult"}]})},
            **_write_errors("Malformed JSON, empty body, or not a single JSON object (an array, for one).",
                            f"Body over {MAX_BODY_BYTES} bytes (after gzip decompression)."),
        },
    }}


@cache
def openapi_document() -> dict:
    event_refs = [{"$ref": f"#/components/schemas/{name}"} for name in sorted(contracts_at(EVENTS_ENDPOINT))]
    schemas = {name: {k: v for k, v in c.schema.items() if k != "$schema"}
               for name, c in contracts().items() if c.endpoint is not None}
    schemas.update({
        "Event": {"oneOf": event_refs, "discriminator": {"propertyName": "type"}},
        "Error": {"type": "object", "required": ["error", "message"],
                  "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
        "EventResult": _RESULT,
        "AgentRunResult": _AGENT_RUN_RESULT,
        "BatchResult": {
            "type": "object",
            "required": ["accepted", "duplicates", "rejected", "results"],
            "properties": {
                "accepted": {"type": "integer"},
                "duplicates": {"type": "integer"},
                "rejected": {"type": "integer"},
                "results": {"type": "array", "items": {"allOf": [
                    {"$ref": "#/components/schemas/EventResult"},
                    {"type": "object", "required": ["index"], "properties": {"index": {"type": "integer"}}},
                ]}},
            },
        },
    })
    write_errors = _write_errors("Malformed JSON, empty body or empty batch.",
                                 f"Body over {MAX_BODY_BYTES} bytes (after gzip decompression) or over "
                                 f"{MAX_BATCH_EVENTS} events.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Monkeytown Analytics API",
            "version": package_version(),
            "description": "Ingest game events and CI agent runs; every event is accepted, a duplicate, or "
                           "rejected with a reason.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"writeKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/events": {"post": {
                "summary": "Send one event, or a JSON array of up to 1000 events",
                "description": f"Each event at most {MAX_EVENT_BYTES} bytes. `Content-Encoding: gzip` accepted. "
                               "A 2xx is sent only after the events are committed.",
                "security": [{"writeKey": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Event"},
                    {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_EVENTS,
                     "items": {"$ref": "#/components/schemas/Event"}},
                ]}}}},
                "responses": {
                    "200": {"description": "Single event: its result. Batch: counts and one result per event.",
                            "content": {"application/json": {"schema": {"oneOf": [
                                {"$ref": "#/components/schemas/EventResult"},
                                {"$ref": "#/components/schemas/BatchResult"}]}}}},
                    "422": {"description": "The single event was rejected; the body names the reason and field.",
                            "content": {"application/json": {"schema": {"allOf": [
                                {"$ref": "#/components/schemas/Error"},
                                {"$ref": "#/components/schemas/EventResult"}]}}}},
                    **write_errors,
                },
            }},
            AGENT_RUNS_ENDPOINT: _agent_runs_path(),
            "/api/contracts": {"get": {
                "summary": "The event contracts as JSON Schema",
                "responses": {"200": {"description": "One schema per event type",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
            "/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {
                "description": "The process answers",
                "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/readyz": {"get": {"summary": "Readiness: database reachable and migrations current", "responses": {
                "200": {"description": "Ready", "content": {"application/json": {"schema": {"type": "object"}}}},
                "503": {"description": "Not ready",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
            }}},
            "/data-docs": {"get": {"summary": "Great Expectations Data Docs (redirects to /data-docs/index.html)",
                                   "responses": {"302": {"description": "To the index"}}}},
            "/data-docs/{path}": {"get": {
                "summary": "A page of the Data Docs the quality checks last built under MONKEYTOWN_HOME",
                "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
                                "description": "A file under data_docs/, e.g. index.html (may hold slashes)"}],
                "responses": {"200": {"description": "The file", "content": {"text/html": {}}},
                              "404": {"description": "No such page, or no Data Docs built yet",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
    }
