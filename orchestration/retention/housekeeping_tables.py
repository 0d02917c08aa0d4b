"""Rows of the platform's own history tables older than the cutoff: the monitoring assets' measurements
(monitoring.measurements, one row a metric every five minutes; the dashboard reads a week of them at most) and the
GitHub webhook's delivery log (raw.github_deliveries, one row a delivery; GitHub redelivers only from its last few
days). Each would otherwise grow without bound."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from orchestration.retention.housekeeping_outcome import (
    GITHUB_DELIVERIES,
    MONITORING_MEASUREMENTS,
    PruneOutcome,
)


@dataclass(frozen=True)
class HistoryTable:
    what: str  # the PruneOutcome's name
    schema: str
    table: str
    time_column: str
    since_migration: int


HISTORY_TABLES = (
    HistoryTable(MONITORING_MEASUREMENTS, "monitoring", "measurements", "measured_at", 8),
    HistoryTable(GITHUB_DELIVERIES, "raw", "github_deliveries", "received_at", 9),
)


def prune_table(conn: psycopg.Connection, table: HistoryTable, cutoff: datetime, *,
                dry_run: bool = False) -> PruneOutcome:
    """The table's rows from before `cutoff`; none while the table does not exist (an older database)."""
    name = f"{table.schema}.{table.table}"
    if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]:
        return PruneOutcome(table.what, 0, None, dry_run=dry_run)
    target, column = sql.Identifier(table.schema, table.table), sql.Identifier(table.time_column)
    if dry_run:
        query = sql.SQL("SELECT count(*) FROM {} WHERE {} < %s").format(target, column)
        return PruneOutcome(table.what, conn.execute(query, (cutoff,)).fetchone()[0], None, dry_run=True)
    query = sql.SQL("DELETE FROM {} WHERE {} < %s").format(target, column)
    return PruneOutcome(table.what, conn.execute(query, (cutoff,)).rowcount, None)


def prune_history_tables(conn: psycopg.Connection, cutoff: datetime, *, dry_run: bool = False) -> list[PruneOutcome]:
    return [prune_table(conn, table, cutoff, dry_run=dry_run) for table in HISTORY_TABLES]
