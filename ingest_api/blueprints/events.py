"""POST /api/events: one event or a batch of up to 1000."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ingest_api.body import read_json
from ingest_api.errors import ApiError, json_response
from ingest_api.ingest import MAX_BATCH_EVENTS
from ingest_api.landing import Provenance

bp = Blueprint("events", __name__)


def require_write_key() -> str:
    """The key's name; 401 without a valid key, 429 when the key is over its rate limit."""
    name = current_app.extensions["monkeytown.write_keys"].identify(request.headers.get("Authorization"))
    if name is None:
        raise ApiError(401, "unauthorized", "send a valid write key as Authorization: Bearer <key>",
                       {"WWW-Authenticate": 'Bearer realm="monkeytown"'})
    g.key_name = name
    limiter = current_app.extensions["monkeytown.rate_limiter"]
    if (wait := limiter.retry_after(name)) is not None:
        rules = ";".join(rule.text for rule in limiter.rules)
        raise ApiError(429, "rate_limited", f"this key is over its rate limit ({rules}); retry in {wait} s",
                       {"Retry-After": str(wait)})
    return name


@bp.post("/api/events")
def post_events():
    key_name = require_write_key()
    body, raw = read_json(request)
    service = current_app.extensions["monkeytown.ingest"]
    provenance = Provenance(request_id=g.request_id, key_name=key_name)
    if isinstance(body, list):
        if not body:
            raise ApiError(400, "empty_batch", "the batch is empty")
        if len(body) > MAX_BATCH_EVENTS:
            raise ApiError(413, "batch_too_large",
                           f"a batch holds at most {MAX_BATCH_EVENTS} events; this one has {len(body)}")
        g.event_count = len(body)
        return json_response(service.ingest_batch(body, provenance))
    g.event_count = 1
    status, result = service.ingest_one(body, raw, provenance)
    return json_response(result, status)
