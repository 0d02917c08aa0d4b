"""GET /api/events/stream (WebSocket): the key and the Origin checked at the handshake, then one ack per message
(ingest_api/stream.py)."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

from flask import Blueprint, current_app, g, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from ingest_api.auth import require_write_key
from ingest_api.contracts import STREAM_ENDPOINT
from ingest_api.error_events import answered_error
from ingest_api.errors import ApiError
from ingest_api.stream import (
    CLOSE_SERVER_ERROR,
    CLOSE_TRY_AGAIN,
    OPEN_STREAMS,
    CloseStream,
    MessageRate,
    Stream,
    encode_ack,
    origin_allowed,
)

bp = Blueprint("stream", __name__)
sock = Sock()
log = logging.getLogger("monkeytown.stream")


def _offered_key() -> str | None:
    """The Authorization header, or else the `key` query parameter: a browser cannot set headers on a WebSocket."""
    if (header := request.headers.get("Authorization")) is not None:
        return header
    key = request.args.get("key")
    return f"Bearer {key}" if key else None


@bp.before_request
def _admit_the_handshake():
    """Refused before the upgrade, as plain HTTP (403, 401, 429), so a client never holds a socket it may not use."""
    allowed = current_app.extensions["monkeytown.settings"].allowed_origins
    if not origin_allowed(request.headers.get("Origin"), request.host, allowed):
        raise ApiError(403, "origin_not_allowed", "this Origin may not open the stream; list it in "
                       "MONKEYTOWN_ALLOWED_ORIGINS")
    require_write_key(_offered_key())


@bp.get(STREAM_ENDPOINT)
def not_an_upgrade():
    """A plain GET (werkzeug routes only upgrade requests to the WebSocket rule): 426 says what to send instead."""
    raise ApiError(426, "upgrade_required", "this endpoint is a WebSocket: send the upgrade handshake",
                   {"Upgrade": "websocket", "Connection": "Upgrade"})


@sock.route(STREAM_ENDPOINT, bp=bp)
def stream(ws):
    state = Stream(current_app.extensions["monkeytown.ingest"], current_app.extensions["monkeytown.rate_limiter"],
                   MessageRate(current_app.extensions["monkeytown.stream_rate"]), g.key_name, g.request_id)
    OPEN_STREAMS.add(ws)
    try:
        while True:
            ws.send(encode_ack(state.answer(ws.receive())))
    except CloseStream as close:
        if close.code == CLOSE_TRY_AGAIN:
            _report_error(503, "database_unavailable", None)
        _close(ws, close.code, close.reason)
    except ConnectionClosed:
        pass
    except Exception as error:
        log.exception("stream request_id=%s: unexpected error", g.request_id)
        _report_error(500, "internal_error", error)
        _close(ws, CLOSE_SERVER_ERROR, "an unexpected error occurred; it has been logged")
    finally:
        OPEN_STREAMS.discard(ws)
        g.event_count = state.events


def _close(ws, code: int, reason: str) -> None:
    with contextlib.suppress(ConnectionClosed):  # the peer may have gone first
        ws.close(code, reason)


def _report_error(status: int, code: str, error: Exception | None) -> None:
    """A close for a server error (1011) or the database away (1013) is the stream's 500 or 503: an `error` system
    event like any other (error_events.py)."""
    current_app.extensions["monkeytown.error_events"].report(answered_error(
        g.request_id, request.method, request.path, status, code, error, datetime.now(UTC)))
