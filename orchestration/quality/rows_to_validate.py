"""Where a suite's rows wait for GX: a table in schema quality filled once per validation (never a view: GX sends
a query or more per expectation, 164 of them in the raw suite, and over a view each query computed the rows
again from raw.events and the marts)."""

from __future__ import annotations

from psycopg import sql


def fill_statement(name: str, select: sql.Composable) -> sql.Composed:
    """quality.<name> made again from `select`, with statistics for the queries GX plans over it."""
    return sql.SQL("DROP TABLE IF EXISTS quality.{name};\n"
                   "CREATE UNLOGGED TABLE quality.{name} AS\n{select};\n"
                   "ANALYZE quality.{name}").format(name=sql.Identifier(name), select=select)
