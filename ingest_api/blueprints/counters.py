"""GET /api/counters: the real-time counters, behind a read key."""

from __future__ import annotations

from flask import Blueprint, current_app

from ingest_api.auth import require_read_key
from ingest_api.counters import read_counters
from ingest_api.errors import json_response
from ingest_api.pool import request_deadline

bp = Blueprint("counters", __name__)


@bp.get("/api/counters")
def get_counters():
    require_read_key()
    with current_app.extensions["monkeytown.reads"].guarded_connection(request_deadline()) as conn:
        counters = read_counters(conn)
    # counters move with every commit: a cached answer is a wrong one
    return json_response(counters.as_json(), headers={"Cache-Control": "no-store"})
