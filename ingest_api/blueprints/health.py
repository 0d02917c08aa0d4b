"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, current_app

from ingest_api.errors import RETRY_AFTER_SECONDS, json_response
from ingest_api.migrate import current_version, latest_version
from ingest_api.pool import UNAVAILABLE_ERRORS, DatabaseUnavailable, request_deadline
from monkeytown.database import first_line

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready when the database answers, within a request's deadline, and its landing schema is at the latest
    migration."""
    expected = latest_version()
    try:
        with current_app.extensions["monkeytown.ingest"].guarded_connection(request_deadline()) as conn:
            applied = current_version(conn)
    except (*UNAVAILABLE_ERRORS, DatabaseUnavailable) as error:
        return json_response({"status": "unavailable", "database": "unreachable", "detail": first_line(error)},
                             503, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    if applied != expected:
        return json_response({"status": "unavailable", "database": "ok", "migrations": {
            "applied": applied, "expected": expected}, "detail": "run `monkeytown db upgrade`"}, 503)
    return json_response({"status": "ready", "database": "ok", "migrations": {"applied": applied}})
