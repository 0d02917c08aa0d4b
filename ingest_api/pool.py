"""The API's connection pool: opened lazily in each worker process; every wait on the database has a bound.

A request gets one deadline for all of its database work (pool wait, connection check, statements, the group
commit). The server enforces `statement_timeout`, but a stopped or unreachable server enforces nothing and the
kernel keeps acknowledging its TCP, so a watchdog thread abandons any connection still busy at its deadline.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

#: A request's whole budget for the database: with a second to spare for HTTP, a hung, down or restarting
#: database is a 503 within 5 s.
DATABASE_DEADLINE_SECONDS = 4.0
#: libpq's minimum; connections are made by the pool's own threads, so this never adds to a request's wait.
CONNECT_TIMEOUT_SECONDS = 2
#: Under the deadline, so a statement stuck on a lock is cancelled and rolled back by a live server (keeping its
#: connection) before the watchdog has to abandon the connection.
STATEMENT_TIMEOUT_MS = 3_000
#: How late past its deadline the watchdog may abandon a connection.
WATCHDOG_TICK_SECONDS = 0.1

#: During an outage, a probe tries the database this often, each try bounded by this much: service resumes within
#: about two seconds of the database answering again.
PROBE_INTERVAL_SECONDS = 0.5
PROBE_DEADLINE_SECONDS = 1.0

UNAVAILABLE_ERRORS = (psycopg.OperationalError, PoolTimeout)

log = logging.getLogger("monkeytown.api")


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or did not answer in time; the client should retry."""


@dataclass(eq=False)
class _Watch:
    deadline: float
    socket_fd: int  # a duplicate: the socket stays the connection's even if libpq closes its own descriptor
    abandoned: bool = False


class Watchdog:
    """Shuts down the socket of a connection still busy at its deadline: the call waiting on it fails at once
    with an OperationalError and the pool drops the connection. One thread per process, looking every tick (a
    wake-up per commit instead would cost the fast path a thread switch each time)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._watches: set[_Watch] = set()
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, conn: psycopg.Connection, deadline: float) -> Iterator[psycopg.Connection]:
        watch = self._watch(conn, deadline)
        try:
            yield conn
        finally:
            self._unwatch(watch)
            if watch.abandoned:
                conn.close()  # abandoned just as it finished: its socket is dead, so it must not be reused

    def _watch(self, conn: psycopg.Connection, deadline: float) -> _Watch:
        watch = _Watch(deadline, os.dup(conn.pgconn.socket))
        with self._lock:
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked worker
                self._thread = threading.Thread(target=self._run, name="monkeytown-db-watchdog", daemon=True)
                self._thread.start()
            self._watches.add(watch)
        return watch

    def _unwatch(self, watch: _Watch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.discard(watch)
                os.close(watch.socket_fd)

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_TICK_SECONDS)
            now = time.monotonic()
            with self._lock:
                for watch in [w for w in self._watches if w.deadline <= now]:
                    self._abandon(watch)

    def _abandon(self, watch: _Watch) -> None:
        self._watches.discard(watch)
        watch.abandoned = True
        # closing this socket closes the duplicate, not the connection's own; the peer may have closed it already
        with contextlib.suppress(OSError), socket.socket(fileno=watch.socket_fd) as sock:
            sock.shutdown(socket.SHUT_RDWR)


WATCHDOG = Watchdog()


def request_deadline() -> float:
    """The monotonic time by which a request's database work must be over."""
    return time.monotonic() + DATABASE_DEADLINE_SECONDS


def create_pool(url: str, *, max_size: int, name: str = "monkeytown-api") -> ConnectionPool:
    return ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        open=False,
        timeout=DATABASE_DEADLINE_SECONDS,
        name=name,
        # give up a failed reconnection at once: the pool grows again on the next request, so nothing waits on a
        # retry schedule once the server is back
        reconnect_timeout=0,
        kwargs={
            "autocommit": True,  # each landing is one statement, hence one transaction
            "application_name": name,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c TimeZone=UTC",
        },
    )


def checkout(pool: ConnectionPool, deadline: float) -> psycopg.Connection:
    """A connection that answered a check before `deadline`; broken or hung ones are dropped and the next tried.
    (A checkout happens per batch or when the group-commit leader replaces its connection, so checking each one
    is cheap, and a database restart costs at most one failed single-event request.)"""
    while True:
        conn = pool.getconn(timeout=deadline - time.monotonic())  # PoolTimeout once the deadline has passed
        try:
            with WATCHDOG.guard(conn, deadline):
                conn.execute("")
        except psycopg.OperationalError:
            pool.putconn(conn)  # the pool discards a broken connection and makes a new one
            if time.monotonic() >= deadline:
                raise
        except BaseException:
            pool.putconn(conn)
            raise
        else:
            return conn


@contextmanager
def connection(pool: ConnectionPool, deadline: float) -> Iterator[psycopg.Connection]:
    """A checked connection whose every call is abandoned at `deadline`."""
    conn = checkout(pool, deadline)
    try:
        with WATCHDOG.guard(conn, deadline):
            yield conn
    finally:
        pool.putconn(conn)


class Outage:
    """Once a request has spent its whole deadline waiting on the database, requests answer 503 at once until a
    background probe gets an answer again: none holds a worker thread for the whole deadline meanwhile, so none
    queued behind such threads misses the bound either."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool
        self._starting = threading.Lock()
        self.failing = False

    @contextmanager
    def attempt(self, deadline: float) -> Iterator[None]:
        """Runs the block, unless an outage is under way."""
        if self.failing:
            raise DatabaseUnavailable("the database did not answer in time; waiting for it to answer again")
        try:
            yield
        except (*UNAVAILABLE_ERRORS, DatabaseUnavailable):
            if time.monotonic() >= deadline:  # a connection the server closed is no outage; the next one may work
                self._begin()
            raise

    def _begin(self) -> None:
        with self._starting:
            if self.failing:
                return
            self.failing = True
        threading.Thread(target=self._probe, name="monkeytown-db-probe", daemon=True).start()

    def _probe(self) -> None:
        while self.failing and not self._pool.closed:
            time.sleep(PROBE_INTERVAL_SECONDS)
            self.failing = not self._answers()

    def _answers(self) -> bool:
        try:
            with connection(self._pool, time.monotonic() + PROBE_DEADLINE_SECONDS):
                return True
        except (*UNAVAILABLE_ERRORS, PoolClosed):
            return False
        except Exception:  # the probe must outlive anything, or the outage would never end
            log.exception("the database probe failed")
            return False
