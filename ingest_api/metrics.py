"""Prometheus metrics of the API: events answered by status, request and database query durations, live workers.

Under gunicorn every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR, which gunicorn_conf.py sets in
the master before prometheus_client is first imported, and GET /metrics sums the files of every worker, dead ones
included (so counters never go back). Without gunicorn (the test client, `flask run`) the values live in this
process.

Events per second and the error rate are rates of counters, which PromQL computes (a gauge of either would be wrong
once several processes each hold their own):
  events/s              sum(rate(monkeytown_events_total[1m]))
  rejected share        sum(rate(monkeytown_events_total{status="rejected"}[5m]))
                          / sum(rate(monkeytown_events_total[5m]))
  HTTP error rate       sum(rate(monkeytown_request_duration_seconds_count{status=~"5.."}[5m]))
                          / sum(rate(monkeytown_request_duration_seconds_count[5m]))
  query p95             histogram_quantile(0.95, sum by (le) (rate(monkeytown_db_query_duration_seconds_bucket[5m])))
Every label takes a few known values (statuses, URL rules, methods, named statements): multiprocess mode keeps
each combination of each process in its files, and every series costs Prometheus memory.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import psycopg
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from ingest_api.landing import LAND_EVENTS_SQL

if TYPE_CHECKING:
    from flask import Request, Response

#: The text format every Prometheus version reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: Where this process's values go, as prometheus_client decided when it was imported (just above); None: in memory.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

EVENT_STATUSES = ("accepted", "duplicate", "rejected")
UNMATCHED = "<unmatched>"  # the endpoint label of a request no URL rule matched (404, 405)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

EVENTS = Counter(
    "monkeytown_events", "Events (game events and agent runs) the API answered, by status: accepted, duplicate or "
    "rejected. Events per second: rate(monkeytown_events_total[1m]); error rate: the rejected share of that rate.",
    ["status"])
REQUEST_SECONDS = Histogram(
    "monkeytown_request_duration_seconds", "HTTP requests by method, URL rule (endpoint) and status, timed from "
    "the request's arrival in the app to its response; _count by status gives request and error rates.",
    ["method", "endpoint", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
DB_QUERY_SECONDS = Histogram(
    "monkeytown_db_query_duration_seconds", "Statements the API's connection pool ran, by name: land_events (the "
    "landing statement, one per group commit or batch), check (a connection's check at checkout), other.",
    ["statement"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
RATE_LIMIT_FALLBACKS = Counter(
    "monkeytown_rate_limit_fallbacks", "Requests whose rate limit was counted on this machine alone because the "
    "Redis of MONKEYTOWN_REDIS_URL could not be reached (fail open: each host then enforces the limit by itself).")
API_WORKERS = Gauge(
    "monkeytown_api_workers", "API processes serving requests (gunicorn workers alive).",
    multiprocess_mode="livesum")

# bound once: every status exists (as 0) from the start, and the hot path skips labels()
_EVENTS_BY_STATUS = {status: EVENTS.labels(status) for status in EVENT_STATUSES}
_STATEMENTS = {LAND_EVENTS_SQL: DB_QUERY_SECONDS.labels("land_events"), "": DB_QUERY_SECONDS.labels("check")}
_OTHER_STATEMENT = DB_QUERY_SECONDS.labels("other")
_request_timers: dict[tuple[str, str, int], Histogram] = {}  # labels() costs more than the observation


def count_events(accepted: int = 0, duplicate: int = 0, rejected: int = 0) -> None:
    """Counts answered events; the ingest service calls it with each answer's statuses."""
    for status, amount in (("accepted", accepted), ("duplicate", duplicate), ("rejected", rejected)):
        if amount:
            _EVENTS_BY_STATUS[status].inc(amount)


def _request_timer(method: str, endpoint: str, status: int) -> Histogram:
    timer = _request_timers.get((method, endpoint, status))
    if timer is None:
        timer = _request_timers[method, endpoint, status] = REQUEST_SECONDS.labels(method, endpoint, str(status))
    return timer


def record_request(request: Request, response: Response, seconds: float) -> None:
    """Times a request, by its URL rule (never the raw path, which the client chooses)."""
    rule, method, status = request.url_rule, request.method, response.status_code
    endpoint = rule.rule if rule is not None else UNMATCHED
    if method not in _METHODS:
        method = "other"
    _request_timer(method, endpoint, status).observe(seconds)


class TimedCursor(psycopg.Cursor):
    """The pool's cursor: times each statement into monkeytown_db_query_duration_seconds, failed ones too (a
    statement cut off at its timeout is the slowest kind)."""

    def execute(self, query, params=None, **kwargs):
        started = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            timer = _STATEMENTS.get(query, _OTHER_STATEMENT) if isinstance(query, str) else _OTHER_STATEMENT
            timer.observe(time.perf_counter() - started)


def exposition() -> bytes:
    """The text every worker's values sum to (multiprocess mode), or this process's own."""
    if MULTIPROCESS_DIR is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
    return generate_latest(registry)
