"""The API's connection pool: opened lazily in each worker process, bounded waits, clear failures."""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

#: How long a request may wait for a connection before the API answers 503.
POOL_TIMEOUT_SECONDS = 5.0
#: Bounds every statement, so a stuck database turns into a 503 instead of a hung request.
STATEMENT_TIMEOUT_MS = 10_000

UNAVAILABLE_ERRORS = (psycopg.OperationalError, PoolTimeout)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or did not answer in time; the client should retry."""


def create_pool(url: str, *, max_size: int, name: str = "monkeytown-api") -> ConnectionPool:
    return ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        open=False,
        timeout=POOL_TIMEOUT_SECONDS,
        name=name,
        # a checkout happens per batch or when the group-commit leader replaces its connection, so checking
        # each one is cheap, and a database restart costs at most one failed single-event request
        check=ConnectionPool.check_connection,
        reconnect_timeout=0,
        kwargs={
            "autocommit": True,  # each landing is one statement, hence one transaction
            "application_name": name,
            "connect_timeout": 3,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c TimeZone=UTC",
        },
    )
