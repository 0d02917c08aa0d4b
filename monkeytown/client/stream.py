"""Events over the API's WebSocket stream (GET /api/events/stream): one connection kept open, each message waiting
for its ack; reopened with backoff when it closes (1013 database away, 1001 server stopping, 1011, a network error),
the unacknowledged message resent (its event_ids make a resend a duplicate, never a second row). Agent runs, which
the stream does not carry, go over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import orjson
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from ingest_api.contracts import EVENTS_ENDPOINT, STREAM_ENDPOINT
from monkeytown.client.errors import GIVE_UP_SECONDS, ClientError, RetryBudget, retry_after_seconds
from monkeytown.client.http import HttpTransport

#: An ack's `error` codes that say "this message, as it is, will never be stored": answered like HTTP's 400 or 413.
_MESSAGE_ERROR_STATUS = {"malformed_json": 400, "empty_message": 400, "empty_batch": 400, "batch_too_large": 413}


def stream_url(url: str) -> str:
    """The stream's ws:// (or wss://) address under an API base URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"{url!r} is not an http:// or https:// URL")
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + STREAM_ENDPOINT, "", ""))


def as_http_answer(ack: dict) -> tuple[int, dict]:
    """(the status POST /api/events would have given, its body) for an ack: the body is the ack less `seq`."""
    answer = {k: v for k, v in ack.items() if k != "seq"}
    if "results" in answer:
        return 200, answer
    if "error" in answer and "status" not in answer:
        return _MESSAGE_ERROR_STATUS.get(answer["error"], 400), answer
    return (422 if answer.get("status") == "rejected" else 200), answer


class StreamTransport:
    """The Transport of the simulator (and any Python program) over the stream."""

    def __init__(self, url: str, key: str, wait: Callable[[float], bool], *,
                 give_up_after: float = GIVE_UP_SECONDS, timeout: float = 30.0):
        self.url = stream_url(url)
        self._key, self._wait, self._give_up_after, self._timeout = key, wait, give_up_after, timeout
        self._http = HttpTransport(url, key, wait, give_up_after=give_up_after, timeout=timeout)
        self._conn: ClientConnection | None = None

    def close(self) -> None:
        self._http.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> ClientConnection:
        if self._conn is None:
            # no proxy from the environment (the stream goes where the URL says); legacy: the connection itself, not
            # the reconnecting wrapper websockets 17 offers (this class reconnects, resending what was not acked)
            self._conn = connect(self.url, additional_headers={"Authorization": f"Bearer {self._key}"},
                                 open_timeout=self._timeout, close_timeout=2, proxy=None, legacy=True)
        return self._conn

    def _exchange(self, body: bytes) -> dict:
        conn = self._connection()
        conn.send(body.decode())
        return orjson.loads(conn.recv(timeout=self._timeout))

    def post(self, body: bytes, path: str = EVENTS_ENDPOINT) -> tuple[int, dict]:
        """(status, answer) as POST `path` would give them: events over the stream, anything else over HTTP."""
        if path != EVENTS_ENDPOINT:
            return self._http.post(body, path)
        budget = RetryBudget(self._wait, self._give_up_after)
        while True:
            try:
                ack = self._exchange(body)
            except InvalidStatus as refused:
                self.close()
                self._refused(refused, budget)
                continue
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as error:
                self.close()
                budget.back_off(f"the stream at {self.url} closed: {_reason(error)}")
                continue
            if ack.get("error") == "rate_limited":
                budget.pause(retry_after_seconds(ack.get("retry_after")), f"{self.url} kept answering rate_limited")
                continue
            return as_http_answer(ack)

    def _refused(self, refused: InvalidStatus, budget: RetryBudget) -> None:
        """A handshake answered with an HTTP error: a wrong key or Origin ends the run; back-pressure waits."""
        status = refused.response.status_code
        if status == 401:
            raise ClientError(f"{self.url} refused the write key (401); pass the right one as --key")
        if status in (429, 502, 503, 504):
            budget.pause(retry_after_seconds(refused.response.headers.get("Retry-After")),
                         f"{self.url} kept answering {status} at the handshake")
            return
        raise ClientError(f"{self.url} refused the stream ({status}): "
                          f"{refused.response.body[:200].decode(errors='replace') if refused.response.body else ''}")


def _reason(error: BaseException) -> str:
    if isinstance(error, ConnectionClosed) and error.rcvd is not None:
        return f"{error.rcvd.code} {error.rcvd.reason}".strip()
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
