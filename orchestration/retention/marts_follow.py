"""The marts that follow their events out of PostgreSQL: when retention drops a family's UTC day of raw.events,
the mart rows built from exactly those events go in the same transaction (game events: marts.moves; system
events: marts.system_events). Games, players and the rollups keep their history (dbt keeps them through a full
refresh, and no rollup recomputes a day raw.events no longer holds)."""

from __future__ import annotations

from datetime import date
from importlib import resources

import psycopg
from psycopg import sql

from orchestration.retention.policy import GAME_EVENTS, SYSTEM_EVENTS
from orchestration.retention.postgres_day import DaySelection

_DELETE_SQL = resources.files(__package__).joinpath("sql/delete_mart_rows_of_day.sql").read_text("utf-8")
MARTS_SCHEMA = "marts"
#: The marts of one row per event of a family, keyed by event_id; a family not named here has none.
MARTS_FOLLOWING = {GAME_EVENTS: ("moves",), SYSTEM_EVENTS: ("system_events",)}


def drop_mart_rows_of_day(conn: psycopg.Connection, family: str, day: date) -> dict[str, int]:
    """Deletes the rows of the family's following marts whose events are the family's `day` of raw.events, on
    `conn` in the caller's transaction, while raw.events still holds the day; returns the rows deleted per mart
    ({"marts.moves": 12}). A mart dbt has not built yet is left out."""
    start, end = DaySelection(day).bounds()
    deleted = {}
    for mart in MARTS_FOLLOWING.get(family, ()):
        if not _exists(conn, mart):
            continue
        query = sql.SQL(_DELETE_SQL).format(mart=sql.Identifier(MARTS_SCHEMA, mart))
        cursor = conn.execute(query, {"family": family, "day_start": start, "day_end": end})
        deleted[f"{MARTS_SCHEMA}.{mart}"] = cursor.rowcount
    return deleted


def _exists(conn: psycopg.Connection, mart: str) -> bool:
    name = sql.Identifier(MARTS_SCHEMA, mart).as_string(conn)
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]
