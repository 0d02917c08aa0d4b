"""GET /api/stats/... against marts the real dbt build made from known events: each endpoint answers the numbers in
its mart (and the hand-worked ones), behind a read key, 400 on a bad window, and a readable empty answer before
the first dbt run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema
import psycopg
import pytest

from ingest_api.app import create_app
from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.door import admit
from ingest_api.landing import LandingJob, Provenance, land
from ingest_api.openapi import openapi_document
from ingest_api.stats import DAYS, HOURS, LIMIT
from tests.dbt.test_staging import land_events, monkeytown_dbt

READ_KEY = "stats-read-key-0123456789"
WRITE_KEY = "stats-write-key-0123456789"
READ = {"Authorization": f"Bearer {READ_KEY}"}
NOW = datetime.now(UTC).replace(microsecond=0)
EIGHT_DAYS_AGO = NOW - timedelta(days=8)
ENDPOINTS = ["/api/stats/games/hourly", "/api/stats/games/daily", "/api/stats/games/types",
             "/api/stats/leaderboard", "/api/stats/retention", "/api/stats/agents", "/api/stats/errors",
             "/api/stats/pipeline"]
WINDOWED = {"/api/stats/games/hourly": HOURS, "/api/stats/games/daily": DAYS, "/api/stats/leaderboard": LIMIT,
            "/api/stats/retention": DAYS, "/api/stats/agents": DAYS, "/api/stats/errors": DAYS}


def at(minutes_ago: float, base: datetime = NOW) -> str:
    return (base - timedelta(minutes=minutes_ago)).isoformat()


def todays_games() -> list[dict]:
    return [
        # alice wins a chess game in two moves and loses the next to the AI; bob loses tictactoe to the AI
        {"event_id": "c1-s", "type": "game_start", "game_id": "c1", "game_type": "chess", "session_id": "alice",
         "timestamp": at(10)},
        {"event_id": "c1-m1", "type": "move", "game_id": "c1", "move_type": "move", "session_id": "alice",
         "timestamp": at(9)},
        {"event_id": "c1-m2", "type": "move", "game_id": "c1", "move_type": "capture", "session_id": "alice",
         "timestamp": at(8)},
        {"event_id": "c1-e", "type": "game_end", "game_id": "c1", "duration": 120, "winner": "alice",
         "timestamp": at(8)},
        {"event_id": "c2-s", "type": "game_start", "game_id": "c2", "game_type": "chess", "session_id": "alice",
         "timestamp": at(7)},
        {"event_id": "c2-e", "type": "game_end", "game_id": "c2", "duration": 60, "winner": "ai", "timestamp": at(6)},
        {"event_id": "t1-s", "type": "game_start", "game_id": "t1", "game_type": "tictactoe", "session_id": "bob",
         "timestamp": at(5)},
        {"event_id": "t1-m1", "type": "move", "game_id": "t1", "move_type": "place", "session_id": "bob",
         "timestamp": at(4)},
        {"event_id": "t1-e", "type": "game_end", "game_id": "t1", "duration": 30, "winner": "ai", "timestamp": at(3)},
    ]


def cohort_games() -> list[tuple[datetime, list[dict]]]:
    """carol and dave first seen eight days ago; carol back the next day and a week later."""
    day1, day7 = EIGHT_DAYS_AGO + timedelta(days=1), EIGHT_DAYS_AGO + timedelta(days=7)
    return [
        (EIGHT_DAYS_AGO, [
            {"event_id": "k1-s", "type": "game_start", "game_id": "k1", "game_type": "go", "session_id": "carol",
             "timestamp": at(1, EIGHT_DAYS_AGO)},
            {"event_id": "k2-s", "type": "game_start", "game_id": "k2", "game_type": "go", "session_id": "dave",
             "timestamp": at(1, EIGHT_DAYS_AGO)}]),
        (day1, [{"event_id": "k3-s", "type": "game_start", "game_id": "k3", "game_type": "go", "session_id": "carol",
                 "timestamp": at(1, day1)}]),
        (day7, [{"event_id": "k4-s", "type": "game_start", "game_id": "k4", "game_type": "go", "session_id": "carol",
                 "timestamp": at(1, day7)}]),
    ]


def agent_runs() -> list[dict]:
    return [
        {"run_id": "a1", "agent_name": "FounderAI", "files_created": 3, "files_modified": 7, "status": "completed",
         "finished_at": at(20)},
        {"run_id": "a2", "agent_name": "FounderAI", "files_created": 1, "files_modified": 2, "status": "failed",
         "finished_at": at(15)},
        {"run_id": "a3", "agent_name": "BetaBuilder", "files_created": 0, "files_modified": 4,
         "status": "completed", "finished_at": at(12)},
    ]


def refused_events() -> list[dict]:
    """Two events refused for a missing field, one as stale."""
    return [
        {"event_id": "bad-1", "type": "game_start", "game_type": "chess", "session_id": "eve"},
        {"event_id": "bad-2", "type": "move", "game_id": "c1"},
        {"event_id": "bad-3", "type": "move", "game_id": "c1", "move_type": "move", "timestamp": at(60 * 48)},
    ]


def land_refusals(url: str, events: list[dict]) -> None:
    refusals = [admit(event, NOW) for event in events]
    assert all(hasattr(refusal, "reason") for refusal in refusals)
    with psycopg.connect(url, autocommit=True) as conn:
        land(conn, [LandingJob([], refusals, Provenance())])


def build_marts(url: str) -> str:
    """The known events landed in the database at `url`, and the marts the real `dbt build` makes of them."""
    land_events(url, todays_games())
    land_events(url, agent_runs(), endpoint=AGENT_RUNS_ENDPOINT)
    for received_at, events in cohort_games():
        land_events(url, events, received_at=received_at)
    land_refusals(url, refused_events())
    result = monkeytown_dbt(url, "build")
    assert result.returncode == 0, result.stdout[-3000:]
    return url


@pytest.fixture(scope="module")
def marts_url(make_database):
    return build_marts(make_database())


def make_app(url: str):
    return create_app({"TESTING": True, "DATABASE_URL": url, "WRITE_KEYS": {"w": WRITE_KEY},
                       "READ_KEYS": {"r": READ_KEY}})


@pytest.fixture(scope="module")
def http(marts_url):
    app = make_app(marts_url)
    yield app.test_client()
    app.extensions["monkeytown.ingest"].pool.close()


@pytest.fixture(scope="module")
def fresh_http(make_database):
    """An app on a database no dbt run has touched: no marts schema at all."""
    app = make_app(make_database())
    yield app.test_client()
    app.extensions["monkeytown.ingest"].pool.close()


def mart_rows(url: str, sql: str) -> list[dict]:
    with psycopg.connect(url, options="-c TimeZone=UTC") as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(sql).fetchall()


def iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def stats(http, path: str, **params) -> dict:
    response = http.get(path, headers=READ, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    schema = openapi_document()["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(body, schema)
    return body


def test_games_per_hour_are_the_hourly_mart(http, marts_url):
    body = stats(http, "/api/stats/games/hourly", hours=24)
    expected = mart_rows(marts_url, "SELECT * FROM marts.game_activity_hourly"
                                    " WHERE hour >= date_trunc('hour', now()) - interval '23 hours' ORDER BY 1, 2")
    assert body["hours"] == 24 and body["note"] is None
    assert body["rows"] == [{**row, "hour": iso(row["hour"]), "avg_duration_seconds": float(
        row["avg_duration_seconds"]) if row["avg_duration_seconds"] is not None else None} for row in expected]
    started = {}
    for row in body["rows"]:
        started[row["game_type"]] = started.get(row["game_type"], 0) + row["games_started"]
    assert started == {"chess": 2, "tictactoe": 1}  # the cohort's games are eight days old


def test_games_per_day_are_the_daily_mart(http, marts_url):
    body = stats(http, "/api/stats/games/daily", days=10)
    expected = mart_rows(marts_url, "SELECT * FROM marts.game_activity_daily"
                                    " WHERE day > current_date - 10 ORDER BY 1, 2")
    assert [(r["day"], r["game_type"], r["games_started"], r["moves"]) for r in body["rows"]] == [
        (r["day"].isoformat(), r["game_type"], r["games_started"], r["moves"]) for r in expected]
    assert sum(r["games_started"] for r in body["rows"] if r["game_type"] == "go") == 4
    assert stats(http, "/api/stats/games/daily", days=1)["rows"] == [
        r for r in body["rows"] if r["day"] == NOW.date().isoformat()]


def test_duration_and_moves_per_game_by_type(http):
    rows = {row["game_type"]: row for row in stats(http, "/api/stats/games/types")["rows"]}
    assert rows["chess"]["games_started"] == 2 and rows["chess"]["games_finished"] == 2
    assert rows["chess"]["avg_duration_seconds"] == 90.0  # (120 + 60) / 2
    assert rows["chess"]["avg_moves_per_finished_game"] == 1.0  # (2 + 0) / 2
    assert rows["tictactoe"]["avg_duration_seconds"] == 30.0
    assert rows["tictactoe"]["avg_moves_per_finished_game"] == 1.0
    assert rows["go"]["games_finished"] == 0 and rows["go"]["avg_duration_seconds"] is None


def test_the_leaderboard_is_the_mart_best_first(http, marts_url):
    body = stats(http, "/api/stats/leaderboard", limit=2)
    expected = mart_rows(marts_url, "SELECT rank, player_id, games_won, games_played FROM marts.leaderboard"
                                    " ORDER BY rank, player_id LIMIT 2")
    assert [(r["rank"], r["player_id"], r["games_won"], r["games_played"]) for r in body["rows"]] == [
        tuple(row.values()) for row in expected]
    assert body["rows"][0]["session_id"] == "alice" and body["rows"][0]["win_rate"] == 0.5
    assert len(stats(http, "/api/stats/leaderboard")["rows"]) == 4  # alice, bob, carol, dave
    ratings = mart_rows(marts_url, "SELECT game_type, round(rating::numeric, 1)::float8 AS rating"
                                   " FROM marts.player_ratings WHERE player_id = 'alice'")
    assert ratings and body["rows"][0]["ratings"] == {row["game_type"]: row["rating"] for row in ratings}
    assert body["rows"][0]["best_rating"] == max(row["rating"] for row in ratings)


def test_retention_cohorts_count_day_1_and_day_7_and_leave_day_30_unmeasured(http, marts_url):
    body = stats(http, "/api/stats/retention", days=30)
    cohort = next(r for r in body["rows"] if r["cohort_day"] == EIGHT_DAYS_AGO.date().isoformat())
    assert cohort == {"cohort_day": EIGHT_DAYS_AGO.date().isoformat(), "players": 2, "d1_retained": 1,
                      "d7_retained": 1, "d30_retained": None, "d1_rate": 0.5, "d7_rate": 0.5, "d30_rate": None}
    expected = mart_rows(marts_url, "SELECT cohort_day, players, d1_retained FROM marts.retention_cohorts"
                                    " WHERE cohort_day > current_date - 30 ORDER BY 1")
    assert [(r["cohort_day"], r["players"], r["d1_retained"]) for r in body["rows"]] == [
        (r["cohort_day"].isoformat(), r["players"], r["d1_retained"]) for r in expected]


def test_agent_activity_per_agent_with_files(http):
    body = stats(http, "/api/stats/agents", days=7)
    assert body["agents"] == [
        {"agent_name": "FounderAI", "runs": 2, "succeeded": 1, "failed": 1, "files_created": 4, "files_modified": 9},
        {"agent_name": "BetaBuilder", "runs": 1, "succeeded": 1, "failed": 0, "files_created": 0,
         "files_modified": 4},
    ]
    assert sum(row["runs"] for row in body["rows"]) == 3


def test_errors_by_reason_are_the_errors_mart(http, marts_url):
    body = stats(http, "/api/stats/errors", days=7)
    expected = mart_rows(marts_url, "SELECT reason, sum(errors)::int AS errors FROM marts.ingest_errors_daily"
                                    " WHERE day > current_date - 7 GROUP BY 1 ORDER BY 2 DESC, 1")
    assert body["reasons"] == expected
    assert sum(r["errors"] for r in body["reasons"]) == 3 and "stale" in {r["reason"] for r in body["reasons"]}


@pytest.fixture
def monitoring(marts_url):
    with psycopg.connect(marts_url, autocommit=True) as conn:
        conn.execute("TRUNCATE monitoring.measurements, monitoring.latest_checks, monitoring.latest_materializations,"
                     " monitoring.recent_runs")
        yield conn


def test_pipeline_health_reads_the_monitoring_tables(http, monitoring):
    hour = NOW.replace(minute=0, second=0)
    monitoring.execute("""
        INSERT INTO monitoring.measurements (metric, measured_at, value) VALUES
            ('storage_bytes', %(hour)s - interval '2 hours', 1000), ('storage_bytes', %(hour)s - interval '90 minutes',
            1500), ('storage_bytes', %(hour)s, 2000), ('error_rate', %(hour)s - interval '1 hour', 0.5),
            ('error_rate', %(hour)s, 0.004), ('storage_bytes', %(hour)s - interval '30 days', 10)""", {"hour": hour})
    t = NOW - timedelta(minutes=5)
    monitoring.execute("INSERT INTO monitoring.latest_materializations VALUES"
                       " ('marts/games', now() - interval '5 minutes', 'run-1'),"
                       " ('marts/leaderboard', now() - interval '125 minutes', 'run-0')")
    monitoring.execute("INSERT INTO monitoring.latest_checks VALUES"
                       " ('raw_events', 'raw_events_suite', true, 'ERROR', 'all good', %(t)s, 'run-1'),"
                       " ('monitoring', 'error_rate_below_1_percent', false, 'WARN', 'over', %(t)s, 'run-1')",
                       {"t": t})
    monitoring.execute("INSERT INTO monitoring.recent_runs VALUES"
                       " ('run-0', 'refresh_dashboard', 'FAILURE', %(t)s - interval '2 hours',"
                       "  %(t)s - interval '2 hours' + interval '3 seconds'),"
                       " ('run-1', 'refresh_core', 'SUCCESS', %(t)s, NULL)", {"t": t})
    body = stats(http, "/api/stats/pipeline")
    assert body["note"] is None
    assert body["measurements"] == {"error_rate": {"value": 0.004, "measured_at": iso(hour)},
                                    "storage_bytes": {"value": 2000, "measured_at": iso(hour)}}
    assert [(row["hour"], row["storage_bytes"]) for row in body["storage"]] == [
        (iso(hour - timedelta(hours=2)), 1500), (iso(hour), 2000)]
    assert [(row["asset"], round(row["age_seconds"] / 60)) for row in body["freshness"]] == [
        ("marts/games", 5), ("marts/leaderboard", 125)]
    assert [(row["check_name"], row["passed"]) for row in body["checks"]] == [
        ("error_rate_below_1_percent", False), ("raw_events_suite", True)]
    assert [(row["run_id"], row["duration_seconds"]) for row in body["runs"]] == [("run-1", None), ("run-0", 3.0)]


def test_pipeline_health_says_when_nothing_is_measured_yet(http, monitoring):
    body = stats(http, "/api/stats/pipeline")
    assert (body["freshness"], body["checks"], body["runs"], body["measurements"]) == ([], [], [], {})
    assert "nothing measured yet" in body["note"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_before_the_first_dbt_run_every_endpoint_answers_empty_with_a_note(fresh_http, path):
    body = stats(fresh_http, path)
    rows = body.get("rows", body.get("freshness"))
    assert rows == []
    assert body["note"]
    if path != "/api/stats/pipeline":
        assert "does not exist yet" in body["note"] and "marts." in body["note"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_read_key_is_required(http, path):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {WRITE_KEY}"}):
        response = http.get(path, headers=headers)
        assert response.status_code == 401, headers
        assert response.get_json()["error"] == "unauthorized"


def test_without_read_keys_a_write_key_reads(marts_url):
    app = create_app({"TESTING": True, "DATABASE_URL": marts_url, "WRITE_KEYS": {"w": WRITE_KEY}})
    try:
        response = app.test_client().get("/api/stats/games/types", headers={"Authorization": f"Bearer {WRITE_KEY}"})
        assert response.status_code == 200
    finally:
        app.extensions["monkeytown.ingest"].pool.close()


@pytest.mark.parametrize("path", sorted(WINDOWED))
@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "", " 3", "+3", "1e3", "99999999999999999999", "٣"])
def test_a_bad_window_is_a_400_that_names_the_bounds(http, path, value):
    window = WINDOWED[path]
    response = http.get(path, headers=READ, query_string={window.name: value})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "bad_request",
        "message": f"{window.name} must be a whole number from {window.low} to {window.high}"}


@pytest.mark.parametrize("path", sorted(WINDOWED))
def test_the_window_bounds_themselves_are_accepted(http, path):
    window = WINDOWED[path]
    for value in (window.low, window.high):
        assert stats(http, path, **{window.name: value})[window.name] == value
    too_far = http.get(path, headers=READ, query_string={window.name: window.high + 1})
    assert too_far.status_code == 400


@pytest.mark.parametrize("path", ENDPOINTS)
def test_an_unknown_query_parameter_is_a_400_not_silently_ignored(http, path):
    response = http.get(path, headers=READ, query_string={"day": "7"})
    assert response.status_code == 400
    allowed = WINDOWED[path].name if path in WINDOWED else "none"
    assert response.get_json()["message"] == f"unknown query parameter 'day'; allowed: {allowed}"
