"""Sending to the ingest API: POSTs over one keep-alive connection that ride out restarts and back-pressure."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import orjson

from ingest_api.contracts import EVENTS_ENDPOINT

GIVE_UP_SECONDS = 60.0


class SimulationError(Exception):
    """An expected failure, told to the user in one line."""


class Stopped(Exception):
    """SIGTERM or SIGINT arrived while a request waited to be retried."""


class Transport(Protocol):
    def post(self, body: bytes, path: str = EVENTS_ENDPOINT) -> tuple[int, dict]:
        """(status, JSON answer) of POST `path` (/api/events or /api/agent-runs) after any retries; 200, 422
        or a 5xx."""


def _retry_after(value: str | None) -> float:
    try:
        # never zero, so a server answering Retry-After: 0 forever still exhausts the retry budget
        return min(max(float(value), 0.1), 60.0)
    except (TypeError, ValueError):
        return 1.0


class HttpTransport:
    """POSTs to the API over one keep-alive connection that rides out API restarts and back-pressure."""

    def __init__(self, url: str, key: str, wait: Callable[[float], bool], *,
                 give_up_after: float = GIVE_UP_SECONDS, timeout: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulationError(f"{url!r} is not an http:// or https:// URL")
        try:
            port = parts.port
        except ValueError:
            raise SimulationError(f"{url!r} has an invalid port") from None
        connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._connect = lambda: connection(parts.hostname, port, timeout=timeout)
        self._base_url, self._base_path = url.rstrip("/"), parts.path.rstrip("/")
        self.url = self._base_url + EVENTS_ENDPOINT
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._wait, self._give_up_after = wait, give_up_after
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, body: bytes, path: str) -> tuple[int, str | None, bytes]:
        if self._conn is None:
            self._conn = self._connect()
        self._conn.request("POST", self._base_path + path, body, self._headers)
        response = self._conn.getresponse()
        return response.status, response.getheader("Retry-After"), response.read()

    def _pause(self, seconds: float, waited: float, why: str) -> float:
        if waited + seconds > self._give_up_after:
            raise SimulationError(f"{why}; gave up after retrying for {waited:.0f} s")
        if self._wait(seconds):
            raise Stopped
        return waited + seconds

    def post(self, body: bytes, path: str = EVENTS_ENDPOINT) -> tuple[int, dict]:
        url = self._base_url + path
        waited, backoff = 0.0, 0.5
        while True:
            reused = self._conn is not None
            try:
                status, retry_after, data = self._exchange(body, path)
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if not reused:
                    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
                    waited = self._pause(backoff, waited, f"cannot reach {url}: {reason}")
                    backoff = min(backoff * 2, 5.0)
                # else the server had closed the idle keep-alive connection: reconnect at once
                continue
            try:
                answer = orjson.loads(data)
            except orjson.JSONDecodeError:
                answer = {}
            answer = answer if isinstance(answer, dict) else {}
            if status in (429, 502, 503, 504):
                waited = self._pause(_retry_after(retry_after), waited,
                                     f"{url} kept answering {status} {answer.get('error', '')}".rstrip())
                continue
            if status in (200, 422) or status >= 500:
                return status, answer
            if status == 401:
                raise SimulationError(f"{url} refused the write key (401); pass the right one as --key")
            message = answer.get("message") or data[:200].decode(errors="replace")
            raise SimulationError(f"{url} answered {status}: {message}")
