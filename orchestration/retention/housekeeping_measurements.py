"""The monitoring assets' measurements (monitoring.measurements, one row a metric every five minutes) older than
the cutoff: the dashboard reads a week of them at most, and the table would otherwise grow without bound."""

from __future__ import annotations

from datetime import datetime

import psycopg

from orchestration.retention.housekeeping_outcome import MONITORING_MEASUREMENTS, PruneOutcome

_COUNT_SQL = "SELECT count(*) FROM monitoring.measurements WHERE measured_at < %s"
_DELETE_SQL = "DELETE FROM monitoring.measurements WHERE measured_at < %s"


def prune_measurements(conn: psycopg.Connection, cutoff: datetime, *, dry_run: bool = False) -> PruneOutcome:
    """Measurements taken before `cutoff`; none while the table does not exist (a database before migration 8)."""
    if not conn.execute("SELECT to_regclass('monitoring.measurements') IS NOT NULL").fetchone()[0]:
        return PruneOutcome(MONITORING_MEASUREMENTS, 0, None, dry_run=dry_run)
    query = _COUNT_SQL if dry_run else _DELETE_SQL
    cursor = conn.execute(query, (cutoff,))
    rows = cursor.fetchone()[0] if dry_run else cursor.rowcount
    return PruneOutcome(MONITORING_MEASUREMENTS, rows, None, dry_run=dry_run)
