"""The OpenAPI 3.1 document, built from the event contracts so the two never disagree. It names every answer each
operation gives; every error body is the JSON `Error`."""

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

_DESCRIPTION = (
    "Ingest game events and CI agent runs; every event is accepted, a duplicate, or rejected with a reason. "
    "Every error body is JSON: {\"error\": CODE, \"message\": TEXT}. A method a path does not list answers 405 "
    "with an `Allow` header (components/responses/MethodNotAllowed); every GET path also answers HEAD, and every "
    "path answers OPTIONS with `Allow`. Every response carries an `X-Request-ID`."
)


def package_version() -> str:
    try:
        return version("monkeytown-analytics")
    except PackageNotFoundError:
        return "0+unknown"


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _header(description: str, required: bool = True) -> dict:
    return {"description": description, "required": required, "schema": {"type": "string"}}


def _error(description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": _json(_ref("schemas", "Error"))}
    if headers:
        response["headers"] = headers
    return response


def _answer(name: str, description: str | None = None) -> dict:
    """A shared response; OpenAPI 3.1 lets a reference say what it means at this operation."""
    reference = _ref("responses", name)
    return {**reference, "description": description} if description else reference


_HEADERS = {
    "RetryAfter": _header("Seconds to wait before retrying."),
    "Allow": _header("The methods this path answers, e.g. `POST, OPTIONS`."),
    "WWWAuthenticate": _header("`Bearer realm=\"monkeytown\"`."),
}

_RETRY_AFTER = {"Retry-After": _ref("headers", "RetryAfter")}
_RESPONSES = {
    "BadRequest": _error("Malformed JSON, an empty body, or a body of the wrong shape."),
    "Unauthorized": _error("Missing or invalid write key.", {"WWW-Authenticate": _ref("headers", "WWWAuthenticate")}),
    "NotFound": _error("No such resource."),
    "MethodNotAllowed": _error("The path does not answer this method.", {"Allow": _ref("headers", "Allow")}),
    "PayloadTooLarge": _error(f"The body is over {MAX_BODY_BYTES} bytes (after gzip decompression); refused before "
                              "it is parsed, on every path."),
    "UnsupportedMediaType": _error("Content-Type is not application/json, or Content-Encoding is neither gzip nor "
                                   "absent."),
    "RateLimited": _error("This write key is over MONKEYTOWN_RATE_LIMIT.", _RETRY_AFTER),
    "DatabaseUnavailable": _error("The database is unavailable or did not answer in time; nothing was stored.",
                                  _RETRY_AFTER),
}

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
                     "description": "Accepted with a warning (anonymous_player), or refused with one (stale)."},
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
_BATCH_RESULT = {
    "type": "object",
    "required": ["accepted", "duplicates", "rejected", "results"],
    "properties": {
        "accepted": {"type": "integer", "minimum": 0},
        "duplicates": {"type": "integer", "minimum": 0},
        "rejected": {"type": "integer", "minimum": 0},
        "results": {"type": "array", "description": "One per event, in the order sent.", "items": {"allOf": [
            _ref("schemas", "EventResult"),
            {"type": "object", "required": ["index"], "properties": {"index": {"type": "integer", "minimum": 0}}},
        ]}},
    },
}
_HEALTH = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
_READINESS = {
    "type": "object",
    "required": ["status", "database"],
    "properties": {
        "status": {"enum": ["ready", "unavailable"]},
        "database": {"enum": ["ok", "unreachable"]},
        "migrations": {"type": "object", "properties": {"applied": {"type": ["integer", "null"]},
                                                         "expected": {"type": "integer"}}},
        "detail": {"type": "string", "description": "Why it is not ready, and what to do."},
    },
}
_CONTRACTS = {"type": "object", "required": ["contracts"], "properties": {"contracts": {
    "type": "object", "description": "Event type -> its JSON Schema (2020-12).",
    "additionalProperties": {"type": "object"}}}}


def _schemas() -> dict:
    event_refs = [_ref("schemas", name) for name in sorted(contracts_at(EVENTS_ENDPOINT))]
    schemas = {name: {k: v for k, v in c.schema.items() if k != "$schema"}
               for name, c in contracts().items() if c.endpoint is not None}
    schemas.update({
        "Event": {"oneOf": event_refs, "discriminator": {"propertyName": "type"}},
        "Error": {"type": "object", "required": ["error", "message"],
                  "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
        "EventResult": _RESULT,
        "AgentRunResult": _AGENT_RUN_RESULT,
        "BatchResult": _BATCH_RESULT,
        "Rejection": {"allOf": [_ref("schemas", "Error"), _ref("schemas", "EventResult")]},
        "AgentRunRejection": {"allOf": [_ref("schemas", "Error"), _ref("schemas", "AgentRunResult")]},
        "Health": _HEALTH,
        "Readiness": _READINESS,
        "Contracts": _CONTRACTS,
    })
    return schemas


def _write_answers(bad_request: str) -> dict:
    """What a write endpoint answers before or around the door."""
    return {
        "400": _answer("BadRequest", bad_request),
        "401": _answer("Unauthorized"),
        "413": _answer("PayloadTooLarge"),
        "415": _answer("UnsupportedMediaType"),
        "429": _answer("RateLimited"),
        "503": _answer("DatabaseUnavailable"),
    }


def _events_path() -> dict:
    batch = {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_EVENTS,
             "description": "Each item is checked on its own: one that is not a valid event is rejected by its "
                            "index, the others still land (partial success).",
             "items": {"anyOf": [_ref("schemas", "Event"), {"description": "Anything else: rejected by index."}]}}
    return {"post": {
        "summary": f"Send one event, or a JSON array of up to {MAX_BATCH_EVENTS} events",
        "description": f"Each event at most {MAX_EVENT_BYTES} bytes. `Content-Encoding: gzip` accepted. "
                       "A 2xx is sent only after the events are committed.",
        "security": [{"writeKey": []}],
        "requestBody": {"required": True, "content": _json({"oneOf": [_ref("schemas", "Event"), batch]})},
        "responses": {
            "200": {"description": "Single event: its result. Batch: counts and one result per event.",
                    "content": _json({"oneOf": [_ref("schemas", "EventResult"), _ref("schemas", "BatchResult")]})},
            "422": {"description": "The single event was rejected; the body names the reason and field.",
                    "content": _json(_ref("schemas", "Rejection"))},
            **_write_answers("Malformed JSON, an empty body, an empty batch, or invalid gzip."),
            "413": _answer("PayloadTooLarge", f"The body is over {MAX_BODY_BYTES} bytes (after gzip decompression), "
                                              f"or the batch holds over {MAX_BATCH_EVENTS} events."),
        },
    }}


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
        "requestBody": {"required": True, "content": _json(_ref("schemas", run_contract))},
        "responses": {
            "200": {"description": "The run's result: accepted, or duplicate (with conflict when it differs).",
                    "content": _json(_ref("schemas", "AgentRunResult"))},
            "422": {"description": "The run was rejected; the body names the reason and field.",
                    "content": _json(_ref("schemas", "AgentRunRejection"))},
            **_write_answers("Malformed JSON, an empty body, invalid gzip, or not a single JSON object."),
        },
    }}


def _read(summary: str, answers: dict) -> dict:
    """A GET that needs no key; like every path it refuses an oversized body."""
    return {"get": {"summary": summary, "responses": {**answers, "413": _answer("PayloadTooLarge")}}}


def _ok(description: str, schema_name: str) -> dict:
    return {"description": description, "content": _json(_ref("schemas", schema_name))}


def _static_file(description: str, media_type: str) -> dict:
    """The answers of a file served as werkzeug serves one: conditional and range requests included."""
    content = {media_type: {"schema": {}}}
    return {
        "200": {"description": description, "content": content},
        "206": {"description": "The part a `Range` header asked for.", "content": content,
                "headers": {"Content-Range": _header("The part sent, e.g. `bytes 0-99/1234`.")}},
        "304": {"description": "Not modified since `If-None-Match` / `If-Modified-Since`."},
        "412": {"description": "An `If-Match` / `If-Unmodified-Since` precondition failed.", "content": content},
        "416": _error("The `Range` asked for lies outside the file.",
                      {"Content-Range": _header("`bytes */<size>`.")}),
        "404": _answer("NotFound", "No such page, or no Data Docs built yet (the message says how they get built)."),
    }


def _data_docs_paths() -> dict:
    return {
        "/data-docs": _read("Great Expectations Data Docs: redirects to /data-docs/", {"302": {
            "description": "To /data-docs/, where the pages' relative links resolve.",
            "headers": {"Location": _header("/data-docs/")}}}),
        "/data-docs/": _read("The Data Docs index, as the quality checks last built it under MONKEYTOWN_HOME",
                             _static_file("index.html", "text/html")),
        "/data-docs/{path}": {
            "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "A file under data_docs/, e.g. index.html (may hold slashes)",
                            "example": "index.html"}],
            **_read("A file of the Data Docs", _static_file("The file, with the content type its name implies",
                                                            "*/*")),
        },
    }


def _paths() -> dict:
    return {
        EVENTS_ENDPOINT: _events_path(),
        AGENT_RUNS_ENDPOINT: _agent_runs_path(),
        "/api/contracts": _read("The event contracts as JSON Schema",
                                {"200": _ok("One JSON Schema per event type", "Contracts")}),
        "/openapi.json": _read("This document", {"200": {"description": "OpenAPI 3.1",
                                                         "content": _json({"type": "object"})}}),
        "/healthz": _read("Liveness", {"200": _ok("The process answers", "Health")}),
        "/readyz": _read("Readiness: database reachable and migrations current", {
            "200": _ok("Ready", "Readiness"),
            "503": {"description": "Not ready: the database is unreachable (with Retry-After), or its migrations "
                                   "are behind (run `monkeytown db upgrade`).",
                    "headers": {"Retry-After": _header("Seconds to wait; sent when the database is unreachable.",
                                                       required=False)},
                    "content": _json(_ref("schemas", "Readiness"))},
        }),
        **_data_docs_paths(),
    }


@cache
def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Monkeytown Analytics API", "version": package_version(), "description": _DESCRIPTION},
        "components": {
            "schemas": _schemas(),
            "responses": _RESPONSES,
            "headers": _HEADERS,
            "securitySchemes": {"writeKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": _paths(),
    }
