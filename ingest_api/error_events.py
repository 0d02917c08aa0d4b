"""Every 5xx the API answers becomes an `error` system event, off the request path: the answer is put on a small
bounded queue (never waited on: dropped and counted in a log line when full), and a background thread of the worker
lands what it holds through the service's own pool, within a short deadline. A 503 because the database is
unavailable cannot be stored while it is: those wait, counted per method and path, until the database answers
again. Plain threading and queue: under gevent's monkey-patching they are greenlets and a gevent queue."""

from __future__ import annotations

import itertools
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
from flask import Flask, Response, g, request

from ingest_api.pool import UNAVAILABLE_ERRORS, DatabaseUnavailable
from ingest_api.system_events import land_system_events, system_event_row
from monkeytown.database import first_line

if TYPE_CHECKING:
    from ingest_api.ingest import IngestService

QUEUE_SIZE = 1000
#: Events waiting for the database: beyond this many (503s of one method and path count once), dropped.
MAX_PENDING = 1000
LAND_DEADLINE_SECONDS = 2.0
#: While the database is unavailable, the next try after this long.
RETRY_SECONDS = 1.0
DROP_LOG_SECONDS = 10.0
UNAVAILABLE = "database_unavailable"

log = logging.getLogger("monkeytown.api")


@dataclass(frozen=True)
class AnsweredError:
    """A 5xx answer, in strings: the queue holds no exception (nor, through its traceback, the request)."""

    request_id: str
    method: str
    path: str
    status: int
    error: str | None  # the JSON answer's error code
    exception_type: str | None
    message: str | None  # the exception's first line
    at: datetime


def answered_error(request_id: str, method: str, path: str, status: int, error: str | None,
                   exception: BaseException | None, at: datetime) -> AnsweredError:
    if exception is None:
        return AnsweredError(request_id, method, path[:1000], status, error, None, None, at)
    return AnsweredError(request_id, method, path[:1000], status, error,
                         f"{type(exception).__module__}.{type(exception).__qualname__}",
                         first_line(exception)[:1000], at)


def error_event_data(answered: AnsweredError) -> dict:
    at = answered.at.isoformat()
    return {
        "request_id": answered.request_id, "method": answered.method, "path": answered.path,
        "status": answered.status, "error": answered.error, "exception_type": answered.exception_type,
        "message": answered.message, "count": 1, "first_at": at, "last_at": at,
        "last_request_id": answered.request_id, "pid": os.getpid(), "host": socket.gethostname(),
    }


def fold(pending: dict[tuple, dict], answered: AnsweredError, sequence: int) -> bool:
    """Adds `answered`, the `sequence`th answer, to the pending events; False when there is no room for it. 503s
    for an unavailable database share one event per method and path; any other error has its own."""
    key = ("unavailable", answered.method, answered.path) if answered.error == UNAVAILABLE else ("one", sequence)
    if key in pending:
        data = pending[key]
        data["count"] += 1
        data["last_at"], data["last_request_id"] = answered.at.isoformat(), answered.request_id
        return True
    if len(pending) >= MAX_PENDING:
        return False
    pending[key] = error_event_data(answered)
    return True


class ErrorEvents:
    """The queue of a worker's 5xx answers and the thread that lands them."""

    def __init__(self, service: IngestService):
        self._service = service
        self._pid: int | None = None
        self._queue: queue.Queue[AnsweredError] = queue.Queue(QUEUE_SIZE)
        self._pending: dict[tuple, dict] = {}
        self._sequence = itertools.count()
        self._idle = threading.Condition()
        self._start_lock = threading.Lock()
        self.dropped = 0
        self._drop_logged_at = float("-inf")

    def report(self, answered: AnsweredError) -> None:
        """Never blocks nor raises: a full queue drops the event (counted)."""
        try:
            self._ensure_started()
            self._queue.put_nowait(answered)
        except queue.Full:
            self._count_drop()
        except Exception:  # the request path must never break on its error's record
            log.exception("could not queue an error event")

    def flush(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds until every reported error is landed (or dropped); False if some wait."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._queue.unfinished_tasks and not self._pending, timeout)

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid != os.getpid():  # a fork (gunicorn's worker) inherits no thread and a copy of the queue
                self._queue = queue.Queue(QUEUE_SIZE)
                self._pending = {}
                threading.Thread(target=self._drain, name="monkeytown-error-events", daemon=True).start()
                self._pid = os.getpid()

    def _count_drop(self) -> None:
        self.dropped += 1
        if time.monotonic() - self._drop_logged_at >= DROP_LOG_SECONDS:
            self._drop_logged_at = time.monotonic()
            log.warning("error events dropped: %d so far (the queue of %d is full, or %d wait for the database)",
                        self.dropped, QUEUE_SIZE, MAX_PENDING)

    def _drain(self) -> None:
        next_try = 0.0
        while True:
            wait = max(0.0, next_try - time.monotonic()) if self._pending else None
            self._take(wait)
            if not self._pending or time.monotonic() < next_try:
                continue
            if not self._land():
                next_try = time.monotonic() + RETRY_SECONDS

    def _take(self, wait: float | None) -> None:
        """Moves what the queue holds to the pending events, first waiting up to `wait` seconds (None: until one
        comes) for one."""
        try:
            first = self._queue.get(timeout=wait) if wait != 0 else self._queue.get_nowait()
        except queue.Empty:
            return
        taken = [first]
        while True:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
        with self._idle:
            for answered in taken:
                if not fold(self._pending, answered, next(self._sequence)):
                    self._count_drop()
                self._queue.task_done()
            self._idle.notify_all()

    def _land(self) -> bool:
        """Lands the pending events; False when the database is unavailable (they stay pending). Only the drain
        thread changes them, so none is added meanwhile."""
        events = list(self._pending.values())
        try:
            rows = [system_event_row("error", data) for data in events]
            with self._service.guarded_connection(time.monotonic() + LAND_DEADLINE_SECONDS) as conn:
                land_system_events(conn, rows)
        except (*UNAVAILABLE_ERRORS, DatabaseUnavailable):
            return False
        except Exception:  # never let the thread die: these are dropped, the next ones land
            log.exception("could not land %d error events; dropped", len(events))
        with self._idle:
            self._pending = {}
            self._idle.notify_all()
        return True


def install_error_events(app: Flask) -> ErrorEvents:
    """Reports every 5xx answer of `app` to an ErrorEvents of its own (app.extensions["monkeytown.error_events"])."""
    events = app.extensions["monkeytown.error_events"] = ErrorEvents(app.extensions["monkeytown.ingest"])

    @app.after_request
    def _report_server_error(response: Response) -> Response:
        if response.status_code >= 500:
            events.report(answered_error(g.get("request_id", "-"), request.method, request.path,
                                         response.status_code, _error_code(response), g.get("exception"),
                                         datetime.now(UTC)))
        return response

    return events


def _error_code(response: Response) -> str | None:
    try:
        return orjson.loads(response.get_data())["error"]
    except Exception:  # not every 5xx has our JSON body (a proxy's, a stream's)
        return None
