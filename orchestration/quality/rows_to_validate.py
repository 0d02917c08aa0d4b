"""Where a suite's rows wait for GX: a table in schema quality filled once per validation (never a view: GX sends
a query or more per expectation, 164 of them in the raw suite, and over a view each query computed the rows
again from raw.events and the marts)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import sql


def fill_statement(name: str, select: sql.Composable) -> sql.Composed:
    """quality.<name> made again from `select`, with statistics for the queries GX plans over it."""
    return sql.SQL("DROP TABLE IF EXISTS quality.{name};\n"
                   "CREATE UNLOGGED TABLE quality.{name} AS\n{select};\n"
                   "ANALYZE quality.{name}").format(name=sql.Identifier(name), select=select)


@contextlib.contextmanager
def emptied_afterwards(database_url: str, name: str) -> Iterator[None]:
    """Empties quality.<name> when the validation is done: its rows hold player ids, and no copy of them may
    outlive the validation where retention's anonymization cannot reach it."""
    try:
        yield
    finally:
        # UndefinedTable: the fill itself failed, so there is nothing to empty
        with psycopg.connect(database_url, autocommit=True) as conn, contextlib.suppress(psycopg.errors.UndefinedTable):
            conn.execute(sql.SQL("TRUNCATE quality.{}").format(sql.Identifier(name)))


def fill_rows_to_validate(database_url: str, statement) -> None:
    """Fills again the table of rows a suite reads; concurrent callers queue."""
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('quality views'))")
        conn.execute("SET LOCAL jit = off")  # a few thousand rows: compiling costs more than it saves
        conn.execute(statement)
