"""Group commit: single events from many request threads share one transaction, and each request is
answered only after the commit that stored it."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import psycopg
from psycopg_pool import ConnectionPool

from ingest_api.landing import LandingJob, LandingOutcome, land

#: A group never grows past this many rows, so one commit stays short.
MAX_GROUP_ROWS = 1000


class GroupCommitter:
    """One writer thread per process: it takes every job queued while the previous commit ran."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool
        self._queue: queue.SimpleQueue[tuple[LandingJob, Future]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # the writer keeps one connection between groups: a pool checkout per group cost more than the landing
        self._conn: psycopg.Connection | None = None

    def submit(self, job: LandingJob) -> Future:
        """Queues a job; its future resolves after the commit that stored it (needs `ensure_running`)."""
        future: Future = Future()
        self._queue.put((job, future))
        return future

    def ensure_running(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                    self._thread.start()

    def _next_group(self) -> list[tuple[LandingJob, Future]]:
        group = [self._queue.get()]
        rows = len(group[0][0].rows)
        while rows < MAX_GROUP_ROWS:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            group.append(item)
            rows += len(item[0].rows)
        return group

    def commit_next_group(self) -> int:
        """Lands every job queued now (waiting for one if none) in one transaction; returns the group size."""
        group = self._next_group()
        try:
            if self._conn is None:
                self._conn = self._pool.getconn()
            outcomes: list[LandingOutcome] = land(self._conn, [job for job, _ in group])
        except BaseException as error:  # every waiter learns the failure; the writer lives on
            self._release_connection()
            for _, future in group:
                future.set_exception(error)
            return len(group)
        for (_, future), outcome in zip(group, outcomes, strict=True):
            future.set_result(outcome)
        return len(group)

    def _release_connection(self) -> None:
        """Gives the connection back; the pool discards it if it broke, and the next group takes a fresh one."""
        if self._conn is not None:
            self._pool.putconn(self._conn)
            self._conn = None

    def _run(self) -> None:
        while True:
            self.commit_next_group()
