"""Events over HTTP: POSTs over one keep-alive connection that ride out API restarts and back-pressure."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson

from ingest_api.contracts import EVENTS_ENDPOINT
from monkeytown.client.errors import GIVE_UP_SECONDS, ClientError, RetryBudget, retry_after_seconds


class HttpTransport:
    """POSTs to the API over one keep-alive connection that rides out API restarts and back-pressure."""

    def __init__(self, url: str, key: str, wait: Callable[[float], bool], *,
                 give_up_after: float = GIVE_UP_SECONDS, timeout: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"{url!r} is not an http:// or https:// URL")
        try:
            port = parts.port
        except ValueError:
            raise ClientError(f"{url!r} has an invalid port") from None
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

    def post(self, body: bytes, path: str = EVENTS_ENDPOINT) -> tuple[int, dict]:
        url = self._base_url + path
        budget = RetryBudget(self._wait, self._give_up_after)
        while True:
            reused = self._conn is not None
            try:
                status, retry_after, data = self._exchange(body, path)
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if not reused:
                    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
                    budget.back_off(f"cannot reach {url}: {reason}")
                # else the server had closed the idle keep-alive connection: reconnect at once
                continue
            try:
                answer = orjson.loads(data)
            except orjson.JSONDecodeError:
                answer = {}
            answer = answer if isinstance(answer, dict) else {}
            if status in (429, 502, 503, 504):
                budget.pause(retry_after_seconds(retry_after),
                             f"{url} kept answering {status} {answer.get('error', '')}".rstrip())
                continue
            if status in (200, 422) or status >= 500:
                return status, answer
            if status == 401:
                raise ClientError(f"{url} refused the write key (401); pass the right one as --key")
            message = answer.get("message") or data[:200].decode(errors="replace")
            raise ClientError(f"{url} answered {status}: {message}")
