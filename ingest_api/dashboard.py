"""The dashboard's panels: what ingest_api.stats reads, with the charts drawn from it (ingest_api.charts), for the
template to lay out. One function per panel; `panels` reads them all over one connection."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg

from ingest_api import stats
from ingest_api.charts import Series, bar_chart, line_chart

HOURS_SHOWN = 48
DAYS_SHOWN = 30
ERROR_DAYS_SHOWN = 7
COHORTS_LISTED = 10
LEADERS_SHOWN = 10
#: The leaders whose ratings the chart follows, and over how many of their last rated games.
RATING_LINES, RATED_GAMES_SHOWN = 3, 50
#: Assets listed before the rest fold away (stalest first: what needs a look).
ASSETS_LISTED = 8


def _by_type(rows: list[dict], period: str, periods: list[str], value: str) -> list[Series]:
    """One series per game type over `periods`; a period without a row is 0 (nothing happened)."""
    values: dict[str, dict[str, float]] = {}
    for row in rows:
        values.setdefault(row["game_type"], {})[row[period]] = row[value]
    return [Series(game_type, [found.get(p, 0) for p in periods]) for game_type, found in sorted(values.items())]


def _hours(now: datetime, count: int) -> list[str]:
    """The ISO keys (as stats gives them) of the last `count` UTC hours, oldest first."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [(top - timedelta(hours=k)).isoformat().replace("+00:00", "Z") for k in range(count - 1, -1, -1)]


def _days(today: date, count: int) -> list[str]:
    return [(today - timedelta(days=k)).isoformat() for k in range(count - 1, -1, -1)]


def games_panel(conn: psycopg.Connection, now: datetime) -> dict:
    hourly = stats.games_per_hour(conn, HOURS_SHOWN)
    daily = stats.games_per_day(conn, DAYS_SHOWN)
    hours, days = _hours(now, HOURS_SHOWN), _days(now.astimezone(UTC).date(), DAYS_SHOWN)
    return {
        "hourly": hourly, "daily": daily,
        "hourly_chart": line_chart([h[11:16] for h in hours], _by_type(hourly["rows"], "hour", hours, "games_started"),
                                   title=f"Games started per hour, last {HOURS_SHOWN} h (UTC)", y_label="games"),
        "daily_chart": line_chart([d[5:] for d in days], _by_type(daily["rows"], "day", days, "games_started"),
                                  title=f"Games started per day, last {DAYS_SHOWN} days (UTC)", y_label="games"),
        "started_today": sum(row["games_started"] for row in daily["rows"] if row["day"] == days[-1]),
    }


def game_types_panel(conn: psycopg.Connection) -> dict:
    types = stats.game_types(conn)
    names = [row["game_type"] for row in types["rows"]]
    return {
        **types,
        "duration_chart": bar_chart(names, [Series("mean duration (s)", [r["avg_duration_seconds"]
                                                                         for r in types["rows"]])],
                                    title="Mean duration of a game, by type", y_label="seconds"),
        "moves_chart": bar_chart(names, [Series("moves per finished game", [r["avg_moves_per_finished_game"]
                                                                            for r in types["rows"]])],
                                 title="Moves per finished game, by type", y_label="moves"),
    }


def leaderboard_panel(conn: psycopg.Connection) -> dict:
    """The leaderboard, and the rating history of its first players in the game type of their best rating."""
    leaders = stats.leaderboard(conn, LEADERS_SHOWN)
    rated = [(row["player_id"], row["best_rating_game_type"]) for row in leaders["rows"]
             if row.get("best_rating_game_type")][:RATING_LINES]
    history = stats.rating_history(conn, rated, RATED_GAMES_SHOWN)["rows"] if rated else []
    numbers = sorted({row["games_rated"] for row in history})
    series = [Series(f"{player} ({kind})", [next((r["rating"] for r in history if r["player_id"] == player
                                                  and r["game_type"] == kind and r["games_rated"] == n), None)
                                            for n in numbers]) for player, kind in rated]
    return {**leaders, "rating_chart": line_chart(
        [str(n) for n in numbers], series, title="Elo rating after each rated game, the leaders",
        y_label="rating", empty="No rated game yet")}


def retention_panel(conn: psycopg.Connection) -> dict:
    cohorts = stats.retention(conn, DAYS_SHOWN)
    rows = cohorts["rows"]
    days = [row["cohort_day"][5:] for row in rows]
    series = [Series(f"D{n}", [None if row[f"d{n}_rate"] is None else round(100 * row[f"d{n}_rate"], 1)
                               for row in rows]) for n in (1, 7, 30)]
    return {**cohorts, "listed": list(reversed(rows))[:COHORTS_LISTED],
            "chart": line_chart(days, series, title="Players active again on day 1, 7 and 30, by first-seen day",
                                y_label="% of the cohort")}


def agents_panel(conn: psycopg.Connection) -> dict:
    activity = stats.agent_activity(conn, DAYS_SHOWN)
    agents = activity["agents"]
    names = [a["agent_name"] for a in agents]
    return {**activity, "chart": bar_chart(names, [Series(label, [a[field] for a in agents]) for label, field in (
        ("runs", "runs"), ("files created", "files_created"), ("files modified", "files_modified"))],
        title=f"Agent runs and files, last {DAYS_SHOWN} days", y_label="count")}


def quality_panel(conn: psycopg.Connection) -> dict:
    errors = stats.ingest_errors(conn, ERROR_DAYS_SHOWN)
    reasons = errors["reasons"]
    return {**errors, "chart": bar_chart([r["reason"] for r in reasons], [Series("refused", [r["errors"]
                                                                                            for r in reasons])],
                                         title=f"Refused events by reason, last {ERROR_DAYS_SHOWN} days",
                                         y_label="events", empty="No refused events")}


def pipeline_panel(conn: psycopg.Connection) -> dict:
    health = stats.pipeline_health(conn)
    storage = health["storage"]
    stalest = sorted(health["freshness"], key=lambda row: row["age_seconds"], reverse=True)
    return {**health, "stalest": stalest[:ASSETS_LISTED], "fresher": stalest[ASSETS_LISTED:],
            "failed_checks": [check for check in health["checks"] if not check["passed"]],
            "storage_chart": line_chart(
        [row["hour"][5:13].replace("T", " ") + "h" for row in storage],
        [Series("database size (MB)", [round(row["storage_bytes"] / 1e6, 1) for row in storage])],
        title=f"Database size, last {health['storage_days']} days", y_label="MB", empty="Not measured yet")}


def panels(conn: psycopg.Connection, now: datetime | None = None) -> dict:
    """Every panel but the live counters (the page fetches those itself, every few seconds)."""
    now = now or datetime.now(UTC)
    return {
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "games": games_panel(conn, now),
        "game_types": game_types_panel(conn),
        "leaderboard": leaderboard_panel(conn),
        "retention": retention_panel(conn),
        "agents": agents_panel(conn),
        "quality": quality_panel(conn),
        "pipeline": pipeline_panel(conn),
    }
