"""A connection pool as the API's requests use it: opened on first use (in each gunicorn worker, after the fork) and
reached through the outage guard, so a database that is out answers 503 at once. The write pool (the ingest
service's) is one; with MONKEYTOWN_READ_DATABASE_URL the read endpoints get another, on the replica."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from ingest_api.outage import Outage
from ingest_api.pool import connection


class GuardedPool:
    def __init__(self, pool: ConnectionPool):
        self.pool = pool
        self.outage = Outage(pool)
        self._open_lock = threading.Lock()

    def ensure_open(self) -> None:
        """Opens the pool on first use, so each gunicorn worker opens its own after the fork."""
        if self.pool.closed:
            with self._open_lock:
                if self.pool.closed:
                    self.pool.open(wait=False)

    @contextmanager
    def guarded_connection(self, deadline: float) -> Iterator[psycopg.Connection]:
        """A pooled connection within `deadline`, through the outage guard: DatabaseUnavailable (a 503) while the
        database is out, without waiting on it again until the guard's next probe."""
        self.ensure_open()
        with self.outage.attempt(deadline), connection(self.pool, deadline) as conn:
            yield conn

    def close(self) -> None:
        self.pool.close()
