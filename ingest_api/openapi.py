"""The OpenAPI 3.1 document, built from the event contracts so the two never disagree. It names every answer each
operation gives; every error body is the JSON `Error`."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from ingest_api import stats
from ingest_api.body import MAX_BODY_BYTES
from ingest_api.contracts import (
    AGENT_RUNS_ENDPOINT,
    DOOR_REASONS,
    EVENTS_ENDPOINT,
    MAX_EVENT_AGE,
    STREAM_ENDPOINT,
    DoorWarning,
    body_contract,
    contracts,
    contracts_at,
)
from ingest_api.door import MAX_EVENT_BYTES
from ingest_api.github_webhook import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    GITHUB_WEBHOOK_ENDPOINT,
    HOOK_HEADER,
    SIGNATURE_HEADER,
)
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
    "Forbidden": _error("Refused for this client: see the message."),
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
                       "A 2xx is sent only after the events are committed. Any Origin may call it from a browser "
                       "(CORS; the key is a header, never a cookie).",
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


def _stream_path() -> dict:
    return {"get": {
        "summary": "Stream events over one WebSocket: each message one event or a batch, one ack per message",
        "description": "A WebSocket upgrade (RFC 6455). The write key as `Authorization: Bearer <key>`, or as the "
                       "`key` query parameter (browsers cannot set headers on a WebSocket); a browser's Origin must "
                       "be the API's own or listed in MONKEYTOWN_ALLOWED_ORIGINS. Each text message is what POST "
                       f"{EVENTS_ENDPOINT} takes (one event, or an array of up to {MAX_BATCH_EVENTS}; at most "
                       f"{MAX_BODY_BYTES} bytes) and goes through the same door and write path; each gets one ack, "
                       "in order: `seq` (the message's number on the connection) and the body the POST would "
                       "answer, sent only after the commit. A message that cannot be taken as it is (malformed "
                       "JSON, an empty or too large batch, over a rate limit) is acked with `error` and `message` "
                       "(`retry_after` when rate limited) and the connection stays open. Close codes: 1008 a flood "
                       "past the connection's rate limit (MONKEYTOWN_STREAM_RATE_LIMIT, within the key's) or a "
                       "missed ping, 1009 a message over the size cap (nothing of it stored), 1011 a server error, "
                       "1013 the database unavailable (that message not acknowledged: resend it), 1001 the server "
                       "stopping. The server pings every MONKEYTOWN_STREAM_PING_SECONDS (25).",
        "security": [{"writeKey": []}, {"writeKeyQuery": []}],
        "parameters": [{"name": "key", "in": "query", "required": False, "schema": {"type": "string"},
                        "description": "The write key, for browsers."}],
        "responses": {
            "101": {"description": "Switching Protocols: the stream is open."},
            "401": _answer("Unauthorized"),
            "403": _answer("Forbidden", "This Origin may not open the stream (MONKEYTOWN_ALLOWED_ORIGINS)."),
            "413": _answer("PayloadTooLarge"),
            "426": _error("A plain GET, not a WebSocket upgrade: send the handshake (`Upgrade: websocket`).",
                          {"Upgrade": _header("`websocket`")}),
            "429": _answer("RateLimited"),
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


def _github_webhook_path() -> dict:
    delivery = {"type": "object", "required": ["status", "delivery_id", "event"], "properties": {
        "status": {"enum": ["accepted", "duplicate"], "description": "duplicate: this delivery id was handled before "
                   "(a redelivery), nothing more was done."},
        "delivery_id": {"type": "string"}, "event": {"type": "string"}, "action": {"type": ["string", "null"]},
        "agent_run": {"oneOf": [_ref("schemas", "AgentRunResult"), {"type": "null"}],
                      "description": "The agent run a completed workflow_run landed; null for any other delivery."},
        "message": {"type": "string"}}}
    headers = [
        (SIGNATURE_HEADER, "`sha256=<hex>`: HMAC-SHA256 of the raw body with MONKEYTOWN_GITHUB_WEBHOOK_SECRET.",
         "^sha256=[0-9a-f]{64}$", True),
        (EVENT_HEADER, "The event, e.g. `workflow_run` or `ping`.", "^[a-z_]{1,64}$", True),
        (DELIVERY_HEADER, "The delivery's GUID, the same on a redelivery.", "^[A-Za-z0-9_.-]{1,64}$", True),
        (HOOK_HEADER, "The webhook's id, recorded with the delivery.", None, False),
    ]
    return {"post": {
        "summary": "Receive a GitHub webhook delivery (workflow_run)",
        "description": "Set up in a repository's Settings > Webhooks: content type application/json, the secret "
                       "MONKEYTOWN_GITHUB_WEBHOOK_SECRET, the event Workflow runs. The signature is checked over the "
                       "raw body before anything else. A `workflow_run` delivery with action `completed` lands as an "
                       "agent run through POST /api/agent-runs' door (run_id `github-<run id>-<attempt>`, status "
                       "from the conclusion, files_created and files_modified 0: GitHub does not report them); any "
                       "other delivery (ping, requested, in_progress, other events) stores only its delivery id. A "
                       "delivery id handled before answers `duplicate` and does nothing.",
        "parameters": [{"name": name, "in": "header", "required": required, "description": description,
                        "schema": {"type": "string", **({"pattern": pattern} if pattern else {})}}
                       for name, description, pattern, required in headers],
        "requestBody": {"required": True, "content": _json({"type": "object", "description": "The payload as "
                                                             "GitHub sends it."})},
        "responses": {
            "200": {"description": "Handled, or a duplicate delivery.", "content": _json(delivery)},
            "400": _answer("BadRequest", "Signed, but without X-GitHub-Delivery or X-GitHub-Event, malformed JSON, "
                                         "or a workflow run without its id."),
            "401": _error(f"{SIGNATURE_HEADER} is missing or does not match the body."),
            "413": _answer("PayloadTooLarge"),
            "415": _answer("UnsupportedMediaType", "The webhook's content type is not application/json."),
            "422": {"description": "The agent run of a completed workflow run was refused at the door (e.g. stale); "
                                   "recorded in raw.ingest_errors, and the delivery is not marked handled.",
                    "content": _json(_ref("schemas", "AgentRunRejection"))},
            "503": _error("MONKEYTOWN_GITHUB_WEBHOOK_SECRET is not set (not_configured), or the database is "
                          "unavailable (with Retry-After); nothing was stored.",
                          {"Retry-After": _header("Seconds to wait; sent when the database is unavailable.",
                                                  required=False)}),
        },
    }}


def _read(summary: str, answers: dict) -> dict:
    """A GET that needs no key; like every path it refuses an oversized body."""
    return {"get": {"summary": summary, "responses": {**answers, "413": _answer("PayloadTooLarge")}}}


def _ok(description: str, schema_name: str) -> dict:
    return {"description": description, "content": _json(_ref("schemas", schema_name))}


def _static_file(description: str, media_type: str, site: str = "Data Docs") -> dict:
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
        "404": _answer("NotFound", f"No such page, or no {site} built yet (the message says how they get built)."),
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


def _dbt_docs_paths() -> dict:
    return {
        "/dbt-docs": _read("dbt docs: redirects to /dbt-docs/", {"302": {
            "description": "To /dbt-docs/, where index.html finds manifest.json and catalog.json.",
            "headers": {"Location": _header("/dbt-docs/")}}}),
        "/dbt-docs/": _read("The dbt docs index, as the pipeline last published it under MONKEYTOWN_HOME",
                            _static_file("index.html", "text/html", "dbt docs")),
        "/dbt-docs/{path}": {
            "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "A file under dbt_docs/: index.html, manifest.json, catalog.json, or"
                                           " static_index.html (the whole site in one file)",
                            "example": "catalog.json"}],
            **_read("A file of the dbt docs", _static_file("The file, with the content type its name implies", "*/*",
                                                           "dbt docs")),
        },
    }


def _metrics_path() -> dict:
    return _read("Prometheus metrics, summed over every API worker (no key: the API binds to 127.0.0.1 by default)", {
        "200": {"description": "The Prometheus text format: monkeytown_events_total{status} (its rate() is events per "
                               "second; the rejected share, the error rate), monkeytown_request_duration_seconds and "
                               "monkeytown_db_query_duration_seconds (histograms), monkeytown_api_workers.",
                "content": {"text/plain": {"schema": {"type": "string"}}}},
    })


_COUNTERS = {
    "type": "object",
    "required": ["as_of", "events_last_minute", "events_last_hour", "games_started_last_hour", "games_in_progress",
                 "players_online"],
    "properties": {
        "as_of": {"type": "string", "format": "date-time", "description": "When the counters were read (UTC)."},
        "events_last_minute": {"type": "integer", "minimum": 0,
                               "description": "Events received at or after the start of the second a minute ago."},
        "events_last_hour": {"type": "integer", "minimum": 0, "description": "Events received in the last hour."},
        "games_started_last_hour": {"type": "integer", "minimum": 0,
                                    "description": "Games whose first game_start was received in the last hour."},
        "games_in_progress": {"type": "integer", "minimum": 0,
                              "description": "Games whose game_start arrived within the last "
                                             f"{MAX_EVENT_AGE.total_seconds() / 3600:g} h and whose game_end has not."},
        "players_online": {"type": "integer", "minimum": 0,
                           "description": "Sessions with an event received in the last 5 minutes."},
    },
}


def _counters_path() -> dict:
    path = _read("Real-time counters, exact, moving with every committed event", {
        "200": {"description": "The counters. Each counts by arrival (received_at), in whole seconds up to the "
                               "moment of reading; a duplicate never counts.",
                "headers": {"Cache-Control": _header("`no-store`: they change with every commit.")},
                "content": _json(_COUNTERS)},
        "401": _answer("Unauthorized", "Missing or invalid read key (MONKEYTOWN_READ_KEYS; unset, a write key)."),
        "503": _answer("DatabaseUnavailable", "The database is unavailable or did not answer in time."),
    })
    path["get"]["security"] = [{"readKey": []}]
    return path


def _nullable(kind: str, description: str = "", **extra) -> dict:
    schema = {"type": [kind, "null"], **extra}
    return {**schema, "description": description} if description else schema


def _object(properties: dict) -> dict:
    return {"type": "object", "required": list(properties), "properties": properties}


_COUNT = {"type": "integer", "minimum": 0}
_NOTE = _nullable("string", "Why there are no rows: the table does not exist yet (a fresh install, before the "
                            "pipeline's first dbt run). Null otherwise.")
_TIME = {"type": "string", "format": "date-time"}
_DAY = {"type": "string", "format": "date"}
_ACTIVITY = {"game_type": {"type": "string", "description": "`unknown` for moves and ends of games whose start "
                                                            "never arrived."},
             "games_started": _COUNT, "games_finished": _COUNT, "moves": _COUNT, "active_players": _COUNT,
             "avg_duration_seconds": _nullable("number", "Mean duration of the games finished in the period.")}
_AGENT_TOTALS = {"runs": _COUNT, "succeeded": _COUNT, "failed": _COUNT, "files_created": _COUNT,
                 "files_modified": _COUNT}
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}


def _rows(window: str | None, row: dict, **more) -> dict:
    """An answer of rows (of `row`) over the `window` the request asked for, with its note."""
    properties = {**({window: {"type": "integer"}} if window else {}), **more,
                  "rows": {"type": "array", "items": _object(row)}, "note": _NOTE}
    return _object(properties)


def _window_parameter(window) -> dict:
    return {"name": window.name, "in": "query", "required": False, "description": window.description,
            "schema": {"type": "integer", "minimum": window.low, "maximum": window.high, "default": window.default}}


_MEASUREMENT = _object({"value": {"type": "number"}, "measured_at": _TIME})
_PIPELINE = _object({
    "freshness": {"type": "array", "description": "When each asset was last materialized (monitoring."
                  "latest_materializations).", "items": _object({
                      "asset": {"type": "string"}, "materialized_at": _TIME, "age_seconds": {"type": "number"},
                      "run_id": _nullable("string")})},
    "checks": {"type": "array", "description": "The latest result of every asset check, failures first.",
               "items": _object({"asset": {"type": "string"}, "check_name": {"type": "string"},
                                 "passed": {"type": "boolean"}, "severity": {"enum": ["ERROR", "WARN"]},
                                 "description": _nullable("string"), "evaluated_at": _TIME,
                                 "run_id": _nullable("string")})},
    "runs": {"type": "array", "description": f"The newest {stats.RECENT_RUNS} Dagster runs.", "items": _object({
        "run_id": {"type": "string"}, "job_name": {"type": "string"}, "status": {"type": "string"},
        "started_at": _nullable("string", format="date-time"), "ended_at": _nullable("string", format="date-time"),
        "duration_seconds": _nullable("number")})},
    "measurements": {"type": "object", "description": "The newest value of each metric measured so far: "
                     + ", ".join(stats.METRICS) + ".",
                     "properties": dict.fromkeys(stats.METRICS, _MEASUREMENT), "additionalProperties": False},
    "storage": {"type": "array", "description": "The database's size per UTC hour (its largest measurement).",
                "items": _object({"hour": _TIME, "storage_bytes": {"type": "number"}})},
    "storage_days": {"type": "integer", "description": "The days `storage` covers."},
    "note": _nullable("string", "Why there is nothing to show yet, if so."),
})

#: path -> (summary, window parameter or None, 200 schema)
_STATS = {
    "/api/stats/games/hourly": ("Games per UTC hour and game type (marts.game_activity_hourly)", stats.HOURS,
                                _rows("hours", {"hour": _TIME, **_ACTIVITY})),
    "/api/stats/games/daily": ("Games per UTC day and game type (marts.game_activity_daily)", stats.DAYS,
                               _rows("days", {"day": _DAY, **_ACTIVITY})),
    "/api/stats/games/types": ("Average duration and moves per game, by game type (marts.game_type_overview)", None,
                               _rows(None, {"game_type": {"type": "string"}, "games_started": _COUNT,
                                            "games_finished": _COUNT, "games_abandoned": _COUNT, "players": _COUNT,
                                            "avg_duration_seconds": _nullable("number"),
                                            "avg_moves_per_finished_game": _nullable("number")})),
    "/api/stats/leaderboard": ("The leaderboard, best first (marts.leaderboard)", stats.LIMIT,
                               _rows("limit", {"rank": {"type": "integer", "minimum": 1},
                                               "player_id": {"type": "string"}, "session_id": _nullable("string"),
                                               "games_played": _COUNT, "games_won": _COUNT,
                                               "win_rate": _RATE, "last_seen_at": _TIME,
                                               "ratings": {"type": "object", "description": "Elo rating per game "
                                                           "type (marts.player_ratings), rounded to 0.1.",
                                                           "additionalProperties": {"type": "number"}},
                                               "best_rating": _nullable("number"),
                                               "best_rating_game_type": _nullable("string")})),
    "/api/stats/retention": ("Retention cohorts: players by first-seen UTC day, active again on day 1, 7 and 30 "
                             "(marts.retention_cohorts; null where that day has not come yet)", stats.DAYS,
                             _rows("days", {"cohort_day": _DAY, "players": _COUNT,
                                            "d1_retained": _nullable("integer"), "d7_retained": _nullable("integer"),
                                            "d30_retained": _nullable("integer"), "d1_rate": _RATE,
                                            "d7_rate": _RATE, "d30_rate": _RATE})),
    "/api/stats/agents": ("Agent runs, files created and modified, per agent and per day "
                          "(marts.agent_activity_daily)", stats.DAYS,
                          _rows("days", {"day": _DAY, "agent_name": {"type": "string"}, **_AGENT_TOTALS},
                                agents={"type": "array", "description": "The window's totals per agent, most runs "
                                        "first.", "items": _object({"agent_name": {"type": "string"},
                                                                    **_AGENT_TOTALS})})),
    "/api/stats/errors": ("Refused events by reason, and per day (marts.ingest_errors_daily)", stats.DAYS,
                          _rows("days", {"day": _DAY, "reason": {"type": "string"}, "errors": _COUNT},
                                reasons={"type": "array", "description": "The window's totals per reason, most "
                                         "first.", "items": _object({"reason": {"type": "string"},
                                                                     "errors": _COUNT})})),
    "/api/stats/pipeline": ("Pipeline health: freshness of every asset, latest checks, last runs, measurements "
                            "(schema monitoring)", None, _PIPELINE),
}


def _keyed(path: dict) -> dict:
    path["get"]["security"] = [{"readKey": []}]
    return path


def _stats_paths() -> dict:
    paths = {}
    for path, (summary, window, schema) in _STATS.items():
        answers = {
            "200": {"description": "The rows (none, with a note, before the pipeline's first run built the table).",
                    "headers": {"Cache-Control": _header("`no-store`.")}, "content": _json(schema)},
            "401": _answer("Unauthorized", "Missing or invalid read key (MONKEYTOWN_READ_KEYS; unset, a write key)."),
            "503": _answer("DatabaseUnavailable", "The database is unavailable or did not answer in time."),
        }
        answers["400"] = _answer("BadRequest", (
            f"`{window.name}` is not a whole number from {window.low} to {window.high}, or another query parameter "
            "was sent." if window else "A query parameter was sent: this endpoint takes none."))
        item = _keyed(_read(summary, answers))
        if window:
            item["get"]["parameters"] = [_window_parameter(window)]
        paths[path] = item
    return paths


def _dashboard_paths() -> dict:
    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        "/dashboard": _read("The dashboard page (public: its script brings the read key, from `#key=` or a form)",
                            {"200": {"description": "The page, with a Content-Security-Policy.", "content": html}}),
        "/dashboard/panels": _keyed(_read("Every dashboard panel but the live counters, as HTML with inline SVG", {
            "200": {"description": "An HTML fragment the page puts in place every 30 s.", "content": html},
            "401": _answer("Unauthorized", "Missing or invalid read key (MONKEYTOWN_READ_KEYS; unset, a write key)."),
            "503": _answer("DatabaseUnavailable", "The database is unavailable or did not answer in time."),
        })),
    }


def _sdk_path() -> dict:
    answers = {status: answer for status, answer in _static_file("monkeytown.js", "text/javascript").items()
               if status != "404"}
    answers["200"] = {**answers["200"], "description": "The client: plain ES2020, a classic script that defines "
                      "`window.Monkeytown`. Loadable from any site (`Access-Control-Allow-Origin: *`).",
                      "headers": {"ETag": _header("The file's version."),
                                  "Cache-Control": _header("`public, max-age=300`; then revalidated by ETag.")}}
    return _read("The JavaScript client for games in a browser (batching, WebSocket with HTTP fallback)", answers)


def _paths() -> dict:
    return {
        EVENTS_ENDPOINT: _events_path(),
        STREAM_ENDPOINT: _stream_path(),
        AGENT_RUNS_ENDPOINT: _agent_runs_path(),
        GITHUB_WEBHOOK_ENDPOINT: _github_webhook_path(),
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
        "/metrics": _metrics_path(),
        "/api/counters": _counters_path(),
        **_stats_paths(),
        **_dashboard_paths(),
        "/sdk/monkeytown.js": _sdk_path(),
        **_data_docs_paths(),
        **_dbt_docs_paths(),
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
            "securitySchemes": {"writeKey": {"type": "http", "scheme": "bearer"},
                                "writeKeyQuery": {"type": "apiKey", "in": "query", "name": "key",
                                                  "description": f"A write key, on {STREAM_ENDPOINT} only."},
                                "readKey": {"type": "http", "scheme": "bearer",
                                            "description": "MONKEYTOWN_READ_KEYS; unset, a write key reads."}},
        },
        "paths": _paths(),
    }
