"""GET /metrics: Prometheus metrics, summed over every API worker.

No key, as Prometheus expects of a scrape target on a private network: the API binds to 127.0.0.1 unless
MONKEYTOWN_API_HOST says otherwise, and the metrics hold counts and timings only (no keys, events or players)."""

from __future__ import annotations

from flask import Blueprint, Response

from ingest_api.metrics import API_WORKERS, CONTENT_TYPE, exposition

bp = Blueprint("metrics", __name__)


@bp.record_once
def _count_this_worker(state) -> None:
    API_WORKERS.set(1)  # a worker that dies leaves the sum (gunicorn_conf.child_exit)


@bp.get("/metrics")
def metrics():
    return Response(exposition(), content_type=CONTENT_TYPE)
