"""Cross-origin POST /api/events, the JavaScript client's HTTP path from a game page on another site: any Origin,
since the write key travels in a header, never in a cookie, so a browser's same-origin rule would protect nothing
(the WebSocket stream's Origin allow-list is a check of its own, at its handshake)."""

from __future__ import annotations

from flask import Flask, Response, request

from ingest_api.contracts import EVENTS_ENDPOINT

#: Chromium caches a preflight for at most 2 hours.
PREFLIGHT_MAX_AGE_SECONDS = 7200
ANSWER_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    # a client must read these to back off and to quote a request
    "Access-Control-Expose-Headers": "Retry-After, X-Request-ID",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding, X-Request-ID",
    "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
}


def install_cross_origin_events(app: Flask) -> None:
    @app.after_request
    def _allow_any_origin(response: Response) -> Response:
        if request.path == EVENTS_ENDPOINT:
            response.headers.update(ANSWER_HEADERS)
            if request.method == "OPTIONS":
                response.headers.update(PREFLIGHT_HEADERS)
        return response
