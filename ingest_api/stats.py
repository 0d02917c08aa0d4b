"""What the read endpoints (GET /api/stats/...) and the dashboard's panels show: one function per panel, each
reading the small aggregates dbt builds (schema marts) or the monitoring tables (schema monitoring) with the
parameterized statements of sql/stats/, and returning plain dicts and lists.

A table that does not exist yet (a fresh install, before the pipeline's first dbt run) is not an error: its
panel answers no rows and a note that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources

import psycopg
from psycopg.rows import dict_row

#: What the pipeline-health panel shows of monitoring.measurements (orchestration/monitoring writes them).
METRICS = ("events_per_second", "error_rate", "storage_bytes", "storage_growth_bytes_per_day", "query_p95_ms")
RECENT_RUNS = 10
STORAGE_DAYS = 7


@dataclass(frozen=True)
class Window:
    """A bounded integer query parameter: the bound keeps every answer a small read of an aggregate."""

    name: str
    default: int
    low: int
    high: int
    description: str

    def parse(self, text: str | None) -> int:
        """The value of `text` (absent: the default); ValueError when it is not a whole number in bounds."""
        if text is None:
            return self.default
        if not (text.isascii() and text.isdigit()) or not self.low <= int(text) <= self.high:
            raise ValueError(f"{self.name} must be a whole number from {self.low} to {self.high}")
        return int(text)


HOURS = Window("hours", 48, 1, 24 * 31, "Hours back from now, the current hour included.")
DAYS = Window("days", 30, 1, 366, "UTC days back from today, today included.")
LIMIT = Window("limit", 10, 1, 100, "How many players, best first.")


@cache
def _sql(name: str) -> str:
    return resources.files("ingest_api").joinpath(f"sql/stats/{name}.sql").read_text("utf-8")


def _plain(value):
    """A value as JSON and templates want it: times in UTC ISO 8601 with Z, numerics as floats."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _missing_note(table: str) -> str:
    if table.startswith("monitoring."):
        return f"{table} does not exist: run `monkeytown db upgrade`"
    return f"{table} does not exist yet: the pipeline builds it on its first dbt run"


def _read(conn: psycopg.Connection, name: str, table: str, params: dict | None = None) -> tuple[list[dict], str | None]:
    """The rows of sql/stats/<name>.sql, and a note when `table` does not exist (then no rows)."""
    try:
        with conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(_sql(name), params or {}).fetchall()
    except psycopg.errors.UndefinedTable:
        return [], _missing_note(table)
    return [{key: _plain(value) for key, value in row.items()} for row in rows], None


def _notes(*notes: str | None) -> str | None:
    return "; ".join(note for note in notes if note) or None


def games_per_hour(conn: psycopg.Connection, hours: int = HOURS.default) -> dict:
    rows, note = _read(conn, "games_hourly", "marts.game_activity_hourly", {"hours": hours})
    return {"hours": hours, "rows": rows, "note": note}


def games_per_day(conn: psycopg.Connection, days: int = DAYS.default) -> dict:
    rows, note = _read(conn, "games_daily", "marts.game_activity_daily", {"days": days})
    return {"days": days, "rows": rows, "note": note}


def game_types(conn: psycopg.Connection) -> dict:
    """Average duration and moves per game, by game type."""
    rows, note = _read(conn, "game_types", "marts.game_type_overview")
    return {"rows": rows, "note": note}


def leaderboard(conn: psycopg.Connection, limit: int = LIMIT.default) -> dict:
    rows, note = _read(conn, "leaderboard", "marts.leaderboard", {"limit": limit})
    return {"limit": limit, "rows": rows, "note": note}


def rating_history(conn: psycopg.Connection, pairs: list[tuple[str, str]], games: int) -> dict:
    """The ratings after each of the last `games` rated games of every (player, game type) in `pairs`."""
    params = {"players": [player for player, _ in pairs], "game_types": [kind for _, kind in pairs], "games": games}
    rows, note = _read(conn, "rating_history", "marts.rating_history", params)
    return {"games": games, "rows": rows, "note": note}


def retention(conn: psycopg.Connection, days: int = DAYS.default) -> dict:
    rows, note = _read(conn, "retention", "marts.retention_cohorts", {"days": days})
    return {"days": days, "rows": rows, "note": note}


def _totals(rows: list[dict], key: str, fields: tuple[str, ...]) -> list[dict]:
    """The rows summed per `key`, largest first by the first field."""
    totals: dict[str, dict] = {}
    for row in rows:
        total = totals.setdefault(row[key], {key: row[key], **dict.fromkeys(fields, 0)})
        for field in fields:
            total[field] += row[field]
    return sorted(totals.values(), key=lambda total: (-total[fields[0]], total[key]))


def agent_activity(conn: psycopg.Connection, days: int = DAYS.default) -> dict:
    """Runs and files created and modified per agent over the window, and per day."""
    rows, note = _read(conn, "agent_activity", "marts.agent_activity_daily", {"days": days})
    agents = _totals(rows, "agent_name", ("runs", "succeeded", "failed", "files_created", "files_modified"))
    return {"days": days, "agents": agents, "rows": rows, "note": note}


def ingest_errors(conn: psycopg.Connection, days: int = DAYS.default) -> dict:
    """Refused events by reason over the window, and per day."""
    rows, note = _read(conn, "ingest_errors", "marts.ingest_errors_daily", {"days": days})
    return {"days": days, "reasons": _totals(rows, "reason", ("errors",)), "rows": rows, "note": note}


def pipeline_health(conn: psycopg.Connection) -> dict:
    """Freshness of every asset, the latest check results, the last runs, the latest measurements and the
    storage over the last days."""
    freshness, freshness_note = _read(conn, "freshness", "monitoring.latest_materializations")
    checks, checks_note = _read(conn, "checks", "monitoring.latest_checks")
    runs, runs_note = _read(conn, "recent_runs", "monitoring.recent_runs", {"limit": RECENT_RUNS})
    latest, latest_note = _read(conn, "latest_measurements", "monitoring.measurements", {"metrics": list(METRICS)})
    storage, storage_note = _read(conn, "storage", "monitoring.measurements", {"days": STORAGE_DAYS})
    measurements = {row["metric"]: {"value": row["value"], "measured_at": row["measured_at"]} for row in latest}
    note = _notes(freshness_note, checks_note, runs_note, latest_note if latest_note != storage_note else None,
                  storage_note)
    if note is None and not (freshness or checks or runs or measurements):
        note = "nothing measured yet: the pipeline's monitoring assets record it as they run"
    return {"freshness": freshness, "checks": checks, "runs": runs, "measurements": measurements,
            "storage": storage, "storage_days": STORAGE_DAYS, "note": note}
