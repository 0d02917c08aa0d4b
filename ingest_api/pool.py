"""The API's connection pool: opened lazily in each worker process; every wait on the database has a bound.

A request gets one deadline for all of its database work (pool wait, connection check, statements, the group
commit). The server enforces `statement_timeout`, but a stopped or unreachable server enforces nothing and the
kernel keeps acknowledging its TCP, so the watchdog (watchdog.py) abandons any connection still busy at its
deadline, and an outage (outage.py) answers 503 at once until the database answers again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ingest_api.metrics import TimedCursor
from ingest_api.watchdog import WATCHDOG

#: A request's whole budget for the database: with a second to spare for HTTP, a hung, down or restarting
#: database is a 503 within 5 s.
DATABASE_DEADLINE_SECONDS = 4.0
#: libpq's minimum; connections are made by the pool's own threads, so this never adds to a request's wait.
CONNECT_TIMEOUT_SECONDS = 2
#: Under the deadline, so a statement stuck on a lock is cancelled and rolled back by a live server (keeping its
#: connection) before the watchdog has to abandon the connection.
STATEMENT_TIMEOUT_MS = 3_000

UNAVAILABLE_ERRORS = (psycopg.OperationalError, PoolTimeout)

class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or did not answer in time; the client should retry."""


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
            "cursor_factory": TimedCursor,  # monkeytown_db_query_duration_seconds
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
