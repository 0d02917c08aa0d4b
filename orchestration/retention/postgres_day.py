"""The PostgreSQL side of a day: its rows streamed in the archive's order, and its rows checksum computed where
the rows are (the same as checksum.py's over the archive), so a job can prove the archive before dropping.

Family-agnostic: a DaySelection names the table and which rows of the day belong to the family (column ->
accepted values); the WHERE clause is composed with psycopg.sql from it, never formatted from text."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources

import psycopg
from psycopg import sql

_DAY_ROWS_SQL = resources.files(__package__).joinpath("sql/day_rows.sql").read_text("utf-8")
_DAY_CHECKSUM_SQL = resources.files(__package__).joinpath("sql/day_checksum.sql").read_text("utf-8")
STATEMENT_TIMEOUT_SECONDS = 600  # a day of a million rows sorts and hashes in seconds; a stuck one fails


@dataclass(frozen=True)
class DaySelection:
    """One UTC day of a table shaped like raw.events, narrowed to the rows whose `column` is one of its accepted
    values, for every entry of `where` (such as {"source": ("client",)} or {"type": ("server_start", ...)})."""

    day: date
    where: Mapping[str, Sequence[str]] = field(default_factory=dict)
    table: tuple[str, str] = ("raw", "events")

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.day, time(), UTC)
        return start, start + timedelta(days=1)


@dataclass(frozen=True)
class DayChecksum:
    rows: int
    rows_checksum: str


def _query(template: str, selection: DaySelection) -> tuple[sql.Composed, dict]:
    start, end = selection.bounds()
    params: dict[str, object] = {"day_start": start, "day_end": end}
    filters = []
    for number, (column, accepted) in enumerate(sorted(selection.where.items())):
        name = f"filter_{number}"
        filters.append(sql.SQL(" AND {} = ANY({})").format(sql.Identifier(column), sql.Placeholder(name)))
        params[name] = list(accepted)
    query = sql.SQL(template).format(table=sql.Identifier(*selection.table), filters=sql.Composed(filters))
    return query, params


def _bound_transaction(conn: psycopg.Connection, timeout_seconds: float) -> None:
    """For this transaction: a statement timeout, and UTC datetimes (no time zone conversion per row)."""
    conn.execute("SELECT set_config('statement_timeout', %s, true), set_config('TimeZone', 'UTC', true)",
                 (f"{int(timeout_seconds * 1000)}ms",))


def stream_day_rows(conn: psycopg.Connection, selection: DaySelection, *, fetch_rows: int = 10_000,
                    timeout_seconds: float = STATEMENT_TIMEOUT_SECONDS) -> Iterator[tuple]:
    """The selected rows as tuples in the archive's COLUMNS order, ordered by (occurred_at, event_id), fetched
    `fetch_rows` at a time from a server-side cursor in a transaction of their own. Lazy: nothing is queried
    until the first row is asked for."""
    query, params = _query(_DAY_ROWS_SQL, selection)
    with conn.transaction():
        _bound_transaction(conn, timeout_seconds)
        with conn.cursor(name="retention_day_rows") as cursor:
            cursor.execute(query, params)
            while batch := cursor.fetchmany(fetch_rows):
                yield from batch


def postgres_day_checksum(conn: psycopg.Connection, selection: DaySelection, *,
                          timeout_seconds: float = STATEMENT_TIMEOUT_SECONDS) -> DayChecksum:
    """The selected rows' count and rows checksum, computed in PostgreSQL over the rows it holds now."""
    query, params = _query(_DAY_CHECKSUM_SQL, selection)
    with conn.transaction():
        _bound_transaction(conn, timeout_seconds)
        rows, checksum = conn.execute(query, params).fetchone()
    return DayChecksum(rows, checksum)
