"""POST /api/events: one event or a batch of up to 1000."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ingest_api.auth import require_write_key
from ingest_api.body import read_json
from ingest_api.errors import json_response
from ingest_api.landing import Provenance

bp = Blueprint("events", __name__)


@bp.post("/api/events")
def post_events():
    key_name = require_write_key()
    body, raw = read_json(request)
    service = current_app.extensions["monkeytown.ingest"]
    status, answer, g.event_count = service.ingest_message(
        body, raw, Provenance(request_id=g.request_id, key_name=key_name))
    return json_response(answer, status)
