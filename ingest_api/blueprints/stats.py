"""GET /api/stats/...: the read endpoints the dashboard uses, JSON, behind a read key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from flask import Blueprint, current_app, request

from ingest_api import stats
from ingest_api.auth import require_read_key
from ingest_api.errors import ApiError, json_response
from ingest_api.pool import request_deadline

bp = Blueprint("stats", __name__)


@contextmanager
def stats_connection() -> Iterator[psycopg.Connection]:
    """A connection of the read pool (on the replica, if one is configured) bounded by the request's deadline; 503
    while that database is out."""
    with current_app.extensions["monkeytown.reads"].guarded_connection(request_deadline()) as conn:
        yield conn


def windows(*bounds: stats.Window) -> list[int]:
    """The query parameters `bounds` name, validated; 400 for one that is not a whole number within bounds, or for
    any other query parameter (a misspelt one would otherwise be silently ignored)."""
    unknown = sorted(set(request.args) - {bound.name for bound in bounds})
    if unknown:
        allowed = ", ".join(bound.name for bound in bounds) or "none"
        raise ApiError(400, "bad_request", f"unknown query parameter {unknown[0]!r}; allowed: {allowed}")
    try:
        return [bound.parse(request.args.get(bound.name)) for bound in bounds]
    except ValueError as error:
        raise ApiError(400, "bad_request", str(error)) from None


def _answer(panel, *bounds: stats.Window):
    """The panel's answer as JSON, after the read key and the query parameters are checked."""
    require_read_key()
    values = windows(*bounds)
    with stats_connection() as conn:
        body = panel(conn, *values)
    # the marts change with every pipeline run, at most a minute apart: a cached answer is soon a wrong one
    return json_response(body, headers={"Cache-Control": "no-store"})


@bp.get("/api/stats/games/hourly")
def games_hourly():
    return _answer(stats.games_per_hour, stats.HOURS)


@bp.get("/api/stats/games/daily")
def games_daily():
    return _answer(stats.games_per_day, stats.DAYS)


@bp.get("/api/stats/games/types")
def game_types():
    return _answer(stats.game_types)


@bp.get("/api/stats/leaderboard")
def leaderboard():
    return _answer(stats.leaderboard, stats.LIMIT)


@bp.get("/api/stats/retention")
def retention():
    return _answer(stats.retention, stats.DAYS)


@bp.get("/api/stats/agents")
def agents():
    return _answer(stats.agent_activity, stats.DAYS)


@bp.get("/api/stats/errors")
def errors():
    return _answer(stats.ingest_errors, stats.DAYS)


@bp.get("/api/stats/pipeline")
def pipeline():
    return _answer(stats.pipeline_health)
