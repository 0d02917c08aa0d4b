"""What the measurements read from the platform's PostgreSQL, and where they are written: one function per
statement of sql/, each cheap however many events raw.events holds."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

import psycopg

from orchestration.monitoring.measure import StatementStats

#: Every wait bounded: a database that does not answer fails the measurement within seconds.
CONNECT_TIMEOUT_SECONDS = 10
STATEMENT_TIMEOUT_MS = 10_000
#: What raw.ingest_errors holds that the door did not refuse: a duplicate whose payload differed (its first copy
#: stays stored), and rows quarantined after they landed (orchestration/shared/quarantine.py's sources).
NOT_REFUSALS = ["duplicate_conflict"]
QUARANTINE_SOURCES = ["quality", "pipeline"]


def _sql(name: str) -> str:
    return resources.files("orchestration.monitoring").joinpath(f"sql/{name}.sql").read_text("utf-8")


@contextmanager
def connect(conninfo: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True,
                         options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}") as conn:
        yield conn


@dataclass(frozen=True)
class Traffic:
    measured_at: datetime
    landed: int
    refused: int


def window_traffic(conn: psycopg.Connection, window: timedelta) -> Traffic:
    row = conn.execute(_sql("window_traffic"), {"window": window, "not_refusals": NOT_REFUSALS,
                                                "quarantine_sources": QUARANTINE_SOURCES}).fetchone()
    return Traffic(row[0], int(row[1]), int(row[2]))


def database_now(conn: psycopg.Connection) -> datetime:
    """The database's clock, which every measurement is timed by (the API's clock is the same host's)."""
    return conn.execute(_sql("database_now")).fetchone()[0]


def storage_size(conn: psycopg.Connection) -> tuple[datetime, int]:
    measured_at, size = conn.execute(_sql("storage_size")).fetchone()
    return measured_at, int(size)


def storage_by_schema(conn: psycopg.Connection) -> list[tuple[str, int]]:
    return [(schema, int(size)) for schema, size in conn.execute(_sql("storage_by_schema")).fetchall()]


def earliest_measurement(conn: psycopg.Connection, metric: str, now: datetime, lookback: timedelta
                         ) -> tuple[datetime, float] | None:
    """The oldest value of `metric` measured within `lookback` before `now`."""
    row = conn.execute(_sql("earliest_measurement"), {"metric": metric, "now": now, "lookback": lookback}).fetchone()
    return (row[0], row[1]) if row else None


def statement_stats(conn: psycopg.Connection) -> list[StatementStats] | str:
    """This database's statements from pg_stat_statements, or why it cannot answer here."""
    created, preloaded = conn.execute(_sql("statement_stats_ready")).fetchone()
    if not preloaded:
        return "pg_stat_statements is not in shared_preload_libraries"
    if not created:
        return "the pg_stat_statements extension is not created in this database"
    return [StatementStats(int(calls), float(mean), float(stddev), query)
            for calls, mean, stddev, query in conn.execute(_sql("statement_stats")).fetchall()]


def record_measurement(conn: psycopg.Connection, metric: str, measured_at: datetime, value: float) -> None:
    conn.execute(_sql("record_measurement"), {"metric": metric, "measured_at": measured_at, "value": value})
