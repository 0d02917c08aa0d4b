"""One log line per request: request id, key name (never the key), status, events, latency; the same latency in
monkeytown_request_duration_seconds."""

from __future__ import annotations

import logging
import os
import re
import time

from flask import Flask, g, request

from ingest_api.metrics import record_request

log = logging.getLogger("monkeytown.request")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def install_request_log(app: Flask) -> None:
    @app.before_request
    def _start():
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if _SAFE_REQUEST_ID.match(offered) else os.urandom(8).hex()
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        record_request(request, response, elapsed)
        elapsed_ms = elapsed * 1000
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        log.info(
            "request_id=%s method=%s path=%s key=%s status=%s events=%s latency_ms=%.1f",
            g.get("request_id", "-"), request.method, request.path, g.get("key_name", "-"),
            response.status_code, g.get("event_count", 0), elapsed_ms,
        )
        return response
