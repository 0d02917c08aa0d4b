"""POST /api/events: one event or a batch of up to 1000."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ingest_api.auth import require_write_key
from ingest_api.body import read_json
from ingest_api.errors import ApiError, json_response
from ingest_api.ingest import MAX_BATCH_EVENTS
from ingest_api.landing import Provenance

bp = Blueprint("events", __name__)


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
