"""POST /api/agent-runs: one agent run posted by CI, landed through the same door and write path as events."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ingest_api.auth import require_write_key
from ingest_api.body import read_json
from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.errors import ApiError, json_response
from ingest_api.landing import Provenance

bp = Blueprint("agent_runs", __name__)


def _not_an_object(body: object) -> ApiError:
    message = "send one agent run per request, as a JSON object"
    if isinstance(body, list):
        message += "; this endpoint takes no arrays (batches)"
    return ApiError(400, "not_an_object", message)


@bp.post(AGENT_RUNS_ENDPOINT)
def post_agent_run():
    key_name = require_write_key()
    body, raw = read_json(request)
    if not isinstance(body, dict):
        raise _not_an_object(body)
    g.event_count = 1
    service = current_app.extensions["monkeytown.ingest"]
    provenance = Provenance(request_id=g.request_id, key_name=key_name)
    status, result = service.ingest_one(body, raw, provenance, endpoint=AGENT_RUNS_ENDPOINT)
    return json_response(result, status)
