"""GET /api/events/stream: what POST /api/events takes, over one WebSocket, one ack per message, in order.

A message is one event or a batch, and goes through IngestService.ingest_message like a POST (the same door, group
commit for single events, one transaction for a batch); its ack is the POST's answer with the message's number
(`seq`). A problem with one message (bad JSON, an empty or too large batch, over a rate limit) is that message's
ack; the connection ends only with a close code: 1008 policy (a flood past the rate limit), 1009 a message over
the size cap, 1011 a server error, 1013 the database unavailable (that message unacknowledged: resend it later),
1001 the server stopping.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from ingest_api.body import parse_json
from ingest_api.errors import ApiError
from ingest_api.ingest import IngestService
from ingest_api.landing import Provenance
from ingest_api.pool import UNAVAILABLE_ERRORS, DatabaseUnavailable
from ingest_api.rate_limit import Limit, RateLimiter

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_SERVER_ERROR = 1011
CLOSE_TRY_AGAIN = 1013

log = logging.getLogger("monkeytown.stream")


class CloseStream(Exception):
    """Ends the connection with a WebSocket close code and a reason for the client."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def origin_allowed(origin: str | None, host: str, allowed: tuple[str, ...]) -> bool:
    """A browser's Origin may open the stream when it is the API's own host, listed, or `*` is listed; a client
    that sends no Origin (not a browser, so no page can borrow its credentials) may too."""
    if origin is None:
        return True
    if "*" in allowed or origin.rstrip("/") in allowed:
        return True
    return urlsplit(origin).netloc.lower() == host.lower()


class MessageRate:
    """The per-connection cap: fixed windows counted in the connection's own memory (one connection is served by
    one worker). Counting refusals too tells a client that backs off from one that floods on regardless."""

    def __init__(self, limits: tuple[Limit, ...]):
        self.limits = limits
        self._windows = [-1] * len(limits)
        self._counts = [0] * len(limits)
        self._refused = 0

    def retry_after(self, now: float) -> int | None:
        """None when the message is allowed (and counted), else the seconds until it would be."""
        windows = [int(now // limit.seconds) for limit in self.limits]
        for i, window in enumerate(windows):
            if window != self._windows[i]:
                self._windows[i], self._counts[i] = window, 0
                if i == 0:
                    self._refused = 0
        full = [i for i, limit in enumerate(self.limits) if self._counts[i] >= limit.amount]
        if not full:
            for i in range(len(self.limits)):
                self._counts[i] += 1
            return None
        self._refused += 1
        return max(max(1, math.ceil((windows[i] + 1) * self.limits[i].seconds - now)) for i in full)

    @property
    def flooding(self) -> bool:
        """More messages refused in the first window than it allows: the client ignores `retry_after`."""
        return self._refused > self.limits[0].amount


@dataclass
class Stream:
    """One connection's state: who sent it, how many messages so far, its rate."""

    service: IngestService
    key_limiter: RateLimiter
    rate: MessageRate
    key_name: str
    request_id: str
    messages: int = 0
    events: int = 0

    def answer(self, message: str | bytes) -> dict:
        """The ack of the next message, with its `seq`; raises CloseStream when the connection must end."""
        self.messages += 1
        ack = {"seq": self.messages}
        try:
            ack.update(self._ingest(message))
        except ApiError as error:
            ack.update(error=error.code, message=error.message, **error.extra)
        except (DatabaseUnavailable, *UNAVAILABLE_ERRORS) as error:
            log.warning("stream request_id=%s: database unavailable: %s", self.request_id, error)
            raise CloseStream(CLOSE_TRY_AGAIN, "the database is unavailable; resend unacknowledged messages "
                                               "after a pause") from None
        return ack

    def _ingest(self, message: str | bytes) -> dict:
        now = time.time()
        if (wait := self.rate.retry_after(now)) is not None:
            if self.rate.flooding:
                raise CloseStream(CLOSE_POLICY, "flooding past the connection's rate limit")
            raise ApiError(429, "rate_limited", f"this connection is over its rate limit "
                           f"({';'.join(limit.text for limit in self.rate.limits)}); retry in {wait} s",
                           retry_after=wait)
        if (wait := self.key_limiter.retry_after(self.key_name, now)) is not None:
            raise ApiError(429, "rate_limited", f"this key is over its rate limit; retry in {wait} s",
                           retry_after=wait)
        raw = message.encode() if isinstance(message, str) else message
        body = parse_json(raw, "message")
        provenance = Provenance(request_id=f"{self.request_id}.{self.messages}", key_name=self.key_name)
        _, answer, events = self.service.ingest_message(body, raw, provenance)
        self.events += events
        return answer


def encode_ack(ack: dict) -> str:
    return orjson.dumps(ack).decode()


class OpenStreams:
    """The connections this worker serves, so that a stopping worker can close each with 1001 (going away)
    instead of leaving clients to find a dead socket."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet = weakref.WeakSet()

    def add(self, ws) -> None:
        with self._lock:
            self._sockets.add(ws)

    def discard(self, ws) -> None:
        with self._lock:
            self._sockets.discard(ws)

    def __len__(self) -> int:
        return len(self._sockets)

    def close_all(self, reason: str = "the server is stopping; reconnect") -> int:
        with self._lock:
            sockets = list(self._sockets)
        closed = 0
        for ws in sockets:
            try:
                ws.close(CLOSE_GOING_AWAY, reason)
                closed += 1
            except Exception:  # noqa: BLE001 - already closed by its peer: nothing to tell it
                pass
            ws.event.set()  # wakes its handler, asleep in receive(), which close() leaves waiting for the peer
        return closed


OPEN_STREAMS = OpenStreams()
