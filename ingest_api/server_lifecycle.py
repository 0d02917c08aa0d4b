"""The system events of the API's gunicorn master, for the hooks in gunicorn_conf.py: start (server_start, and
config_change when the settings' fingerprint differs from the last one recorded), stop (server_stop, with the signal
that asked for it), and a worker that died without being asked to (process_restart of an api-worker). Each wait is
bounded; a database that is down costs a warning line, never the start's, stop's or worker's own work."""

from __future__ import annotations

import collections
import logging
import signal
import sys
import time

import psycopg

from ingest_api.system_events import (
    record_config_change,
    record_server_start,
    record_server_stop,
    record_worker_restart,
)
from monkeytown.database import running_database_url
from monkeytown.secret_files import anonymization_key
from monkeytown.settings import Settings
from monkeytown.settings_fingerprint import settings_fingerprint
from monkeytown.supervisor import RestartPolicy

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
log = logging.getLogger("monkeytown.api")


def record_start(url: str, settings: Settings, version: str, workers: int) -> None:
    row = record_server_start(url, version, workers)
    log.info("recorded server_start %s", row.event_id)
    try:
        fingerprint = settings_fingerprint(settings, anonymization_key(settings.home, settings.anonymization_key))
        changed = record_config_change(url, fingerprint)
    except (psycopg.Error, OSError, ValueError) as error:  # the start goes on without it
        log.warning("could not record the settings' fingerprint: %s", error)
        return
    if changed:
        log.info("recorded config_change %s", changed.event_id)


class MasterLife:
    """What the master's hooks need to know between calls: whether a stop was asked for (and by which signal),
    and the workers' recent deaths."""

    def __init__(self, window_seconds: float = RestartPolicy.window_seconds):
        self.stop_signal: str | None = None
        self._window_seconds = window_seconds  # deaths counted as recent, as monkeytown up counts crashes
        self._deaths: collections.deque[float] = collections.deque()

    def remember_stop_signals(self) -> None:
        """Wraps the master's handlers of the stop signals (gunicorn installs them before when_ready) to note the
        first one received; the handlers only queue the signal, as this does."""
        for signum in STOP_SIGNALS:
            handler = signal.getsignal(signum)
            if callable(handler):
                signal.signal(signum, self._noting(handler))

    def _noting(self, handler):
        def note_and_handle(signum, frame):
            self.stop_signal = self.stop_signal or signal.Signals(signum).name
            handler(signum, frame)
        return note_and_handle

    def stop_reason(self) -> str | None:
        """The stop signal, or the reason gunicorn halts for (on_exit runs inside its `except HaltServer`)."""
        if self.stop_signal:
            return self.stop_signal
        halting = sys.exc_info()[1]
        return getattr(halting, "reason", None)

    def worker_died(self, server, worker) -> int | None:
        """The recent deaths counting this one, when `worker` died without being asked to (no stop under way, and
        gunicorn will start another in its place: a reload or fewer workers shed theirs); else None."""
        if self.stop_signal or len(server.WORKERS) >= server.num_workers:
            return None
        now = time.monotonic()
        self._deaths.append(now)
        while self._deaths[0] < now - self._window_seconds:
            self._deaths.popleft()
        return len(self._deaths)


def record_stop(settings: Settings, version: str, reason: str | None) -> None:
    try:
        row = record_server_stop(running_database_url(settings), version, reason)
    except Exception as error:  # nothing may keep the master from exiting
        log.warning("could not record server_stop: %s", error)
        return
    log.info("recorded server_stop %s", row.event_id)


def record_worker_death(settings: Settings, worker, recent_deaths: int) -> None:
    reason = "timeout" if getattr(worker, "aborted", False) else "exited"
    try:
        record_worker_restart(running_database_url(settings), worker.pid, reason, recent_deaths)
    except Exception as error:  # nothing may keep the master from starting the next worker
        log.warning("could not record the death of worker %s: %s", worker.pid, error)
