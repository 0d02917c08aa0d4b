"""Group commit: single events from many request threads share one transaction, and each request is
answered only after the commit that stored it.

No writer thread: the first waiting request thread becomes the leader, takes every job queued so far,
lands them in one statement and hands out the outcomes; jobs queued meanwhile wait for the next leader.
(A dedicated writer cost two thread hand-offs per commit, more than the landing itself on this path.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg
from psycopg_pool import ConnectionPool

from ingest_api.landing import LandingJob, LandingOutcome, land
from ingest_api.pool import checkout
from ingest_api.watchdog import WATCHDOG

#: A group never grows past this many rows, so one commit stays short.
MAX_GROUP_ROWS = 1000


class CommitTimeout(TimeoutError):
    """No commit stored the job in time (the database is slow or down)."""


@dataclass
class _Waiter:
    job: LandingJob
    outcome: LandingOutcome | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommitter:
    def __init__(self, pool: ConnectionPool):
        self._pool = pool
        self._turn = threading.Condition()
        self._pending: list[_Waiter] = []
        self._leading = False
        # the leader keeps one connection between groups: a pool checkout per group cost more than the landing
        self._conn: psycopg.Connection | None = None

    def land(self, job: LandingJob, deadline: float) -> LandingOutcome:
        """Stores the job in a shared commit; returns after that commit (raises what the landing raised).
        Raises CommitTimeout at the monotonic `deadline`, whether waiting for a leader or leading itself."""
        me = _Waiter(job)
        with self._turn:
            self._pending.append(me)
        while True:
            with self._turn:
                while not me.done:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._give_up(me)
                    if not self._leading:
                        break
                    self._turn.wait(remaining)
                if me.done:
                    break
                self._leading = True
                group = self._take_group()
            self._lead(group, deadline)  # usually holds this job; if the queue was longer than a group, loop again
        if me.error is not None:
            raise me.error
        return me.outcome

    def _give_up(self, me: _Waiter) -> None:
        """Leaves the queue; a job already in a group under way may still be stored (the answer was a 503, so
        the client resends, and the event_id keeps it to one row)."""
        if me in self._pending:
            self._pending.remove(me)
        raise CommitTimeout("no commit stored the event in time")

    def _take_group(self) -> list[_Waiter]:
        taken, rows = 0, 0
        while taken < len(self._pending) and rows < MAX_GROUP_ROWS:
            rows += len(self._pending[taken].job.rows)
            taken += 1
        group, self._pending = self._pending[:taken], self._pending[taken:]
        return group

    def _lead(self, group: list[_Waiter], deadline: float) -> None:
        """Lands the group within the leader's own deadline: a commit to a hung server is abandoned then, so it
        holds no follower longer than that."""
        try:
            if self._conn is None:
                self._conn = checkout(self._pool, deadline)
            with WATCHDOG.guard(self._conn, deadline):
                outcomes = land(self._conn, [w.job for w in group])
            if self._conn.closed:  # abandoned as the commit finished: the outcomes hold, the connection does not
                self._release_connection()
            for waiter, outcome in zip(group, outcomes, strict=True):
                waiter.outcome = outcome
        except BaseException as error:  # every member learns the failure; the next leader starts afresh
            self._release_connection()
            for waiter in group:
                waiter.error = error
        finally:
            with self._turn:
                for waiter in group:
                    waiter.done = True
                self._leading = False
                self._turn.notify_all()

    def _release_connection(self) -> None:
        """Gives the connection back; the pool discards it if it broke, and the next group takes a fresh one."""
        if self._conn is not None:
            self._pool.putconn(self._conn)
            self._conn = None
