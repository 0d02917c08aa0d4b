"""The Python client of the ingest API: events over HTTP (`HttpTransport`) or over the WebSocket stream
(`StreamTransport`), each riding out API restarts, back-pressure and a database away, and answering what POST
/api/events answers. The simulator sends through it; so can any Python program:

    from monkeytown.client import open_transport
    transport = open_transport("ws", "http://127.0.0.1:8000", key)
    status, answer = transport.post(orjson.dumps(event))
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from ingest_api.contracts import EVENTS_ENDPOINT
from monkeytown.client.errors import GIVE_UP_SECONDS, ClientError, Stopped
from monkeytown.client.http import HttpTransport
from monkeytown.client.stream import StreamTransport

TRANSPORTS = ("http", "ws")


class Transport(Protocol):
    url: str

    def post(self, body: bytes, path: str = EVENTS_ENDPOINT) -> tuple[int, dict]:
        """(status, JSON answer) of POST `path` (/api/events or /api/agent-runs) after any retries; 200, 422,
        400/413 for a message that can never be stored, or a 5xx."""

    def close(self) -> None: ...


def open_transport(kind: str, url: str, key: str, wait: Callable[[float], bool] | None = None, *,
                   give_up_after: float = GIVE_UP_SECONDS) -> Transport:
    """`kind` "http" or "ws"; `wait(seconds)` pauses between retries and returns True to stop (default: sleep)."""
    wait = wait or threading.Event().wait
    if kind == "http":
        return HttpTransport(url, key, wait, give_up_after=give_up_after)
    if kind == "ws":
        return StreamTransport(url, key, wait, give_up_after=give_up_after)
    raise ClientError(f"unknown transport {kind!r}; use one of {', '.join(TRANSPORTS)}")


__all__ = ["GIVE_UP_SECONDS", "TRANSPORTS", "ClientError", "HttpTransport", "Stopped", "StreamTransport", "Transport",
           "open_transport"]
