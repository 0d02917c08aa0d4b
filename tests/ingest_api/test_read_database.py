"""MONKEYTOWN_READ_DATABASE_URL: the read endpoints, the dashboard's panels, the live counters and the BI connection
read from the replica it names, while every write lands on the primary. Two real databases on the session's server
stand for the primary and its replica; they hold different data, so each answer shows which one it came from."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from ingest_api.app import create_app
from ingest_api.counters import read_counters
from monkeytown.bi_role import BI_ROLE
from tests.cli import monkeytown_env, run_monkeytown
from tests.ingest_api.test_stats import READ, READ_KEY, WRITE_KEY, build_marts

# the subject is which database each endpoint reads, not the server: the queries and dbt's build run on each server
# in test_stats, test_counters and tests/dbt
pytestmark = pytest.mark.server_independent

WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}
EVENT = {"event_id": "primary-1", "type": "game_start", "game_id": "p1", "game_type": "checkers",
         "session_id": "zoe"}


@pytest.fixture(scope="module")
def replica_url(make_database):
    """The 'replica': marts built by dbt from the known events of test_stats (chess, tictactoe, go)."""
    return build_marts(make_database())


@pytest.fixture(scope="module")
def primary_url(make_database):
    """The primary: migrated, no dbt run (so no marts), and nothing landed yet."""
    return make_database()


@pytest.fixture(scope="module")
def http(primary_url, replica_url):
    app = create_app({"TESTING": True, "DATABASE_URL": primary_url, "READ_DATABASE_URL": replica_url,
                      "WRITE_KEYS": {"w": WRITE_KEY}, "READ_KEYS": {"r": READ_KEY}})
    yield app.test_client()
    app.extensions["monkeytown.ingest"].pool.close()
    app.extensions["monkeytown.reads"].close()


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def test_ingest_lands_on_the_primary_and_never_on_the_replica(http, primary_url, replica_url):
    response = http.post("/api/events", json=EVENT, headers=WRITE)
    assert response.get_json() == {"status": "accepted", "event_id": "primary-1"}
    assert count(primary_url, "SELECT count(*) FROM raw.events WHERE event_id = 'primary-1'") == 1
    assert count(replica_url, "SELECT count(*) FROM raw.events WHERE event_id = 'primary-1'") == 0
    # readiness is the primary's: the database ingest needs
    assert http.get("/readyz").get_json()["status"] == "ready"


def test_the_read_endpoints_answer_from_the_replica(http, primary_url):
    response = http.get("/api/stats/games/types", headers=READ)
    assert response.status_code == 200
    body = response.get_json()
    assert {row["game_type"] for row in body["rows"]} == {"chess", "tictactoe", "go"} and body["note"] is None
    leaders = http.get("/api/stats/leaderboard", headers=READ).get_json()["rows"]
    assert leaders[0]["session_id"] == "alice"
    # the primary has no marts at all: these rows can only have come from the replica
    assert count(primary_url, "SELECT count(*) FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid"
                              " WHERE n.nspname = 'marts'") == 0


def test_the_dashboard_panels_answer_from_the_replica(http):
    response = http.get("/dashboard/panels", headers=READ)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "tictactoe" in html and "alice" in html
    assert "does not exist yet" not in html


def test_the_live_counters_are_the_replica_s(http, primary_url, replica_url):
    http.post("/api/events", json={**EVENT, "event_id": "primary-2", "game_id": "p2"}, headers=WRITE)
    answer = http.get("/api/counters", headers=READ).get_json()
    with psycopg.connect(replica_url) as replica, psycopg.connect(primary_url) as primary:
        on_replica, on_primary = read_counters(replica), read_counters(primary)
    assert on_replica.games_started_last_hour != on_primary.games_started_last_hour
    assert answer["games_started_last_hour"] == on_replica.games_started_last_hour
    assert answer["events_last_hour"] == on_replica.events_last_hour


def test_without_a_read_database_the_read_endpoints_use_the_primary(primary_url):
    app = create_app({"TESTING": True, "DATABASE_URL": primary_url, "WRITE_KEYS": {"w": WRITE_KEY},
                      "READ_KEYS": {"r": READ_KEY}})
    try:
        assert app.extensions["monkeytown.reads"] is app.extensions["monkeytown.ingest"].database  # one pool
        body = app.test_client().get("/api/stats/games/types", headers=READ).get_json()
        assert body["rows"] == [] and "does not exist yet" in body["note"]
    finally:
        app.extensions["monkeytown.ingest"].pool.close()


def test_the_bi_connection_points_at_the_replica(make_database, tmp_path):
    primary, replica = make_database(migrated=False), make_database(migrated=False)
    env = monkeytown_env(tmp_path / "home", primary)
    for url in (primary, replica):  # a real replica has the primary's grants; here each database gets its own
        upgraded = run_monkeytown({**env, "MONKEYTOWN_DATABASE_URL": url}, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
    with psycopg.connect(replica, autocommit=True) as conn:
        conn.execute("CREATE TABLE marts.games AS SELECT 'on-the-replica' AS game_id")

    printed = run_monkeytown({**env, "MONKEYTOWN_READ_DATABASE_URL": replica}, "db", "url", "--role", "bi")
    assert printed.returncode == 0, printed.stderr
    [bi_line] = printed.stdout.splitlines()
    assert conninfo_to_dict(bi_line)["dbname"] == conninfo_to_dict(replica)["dbname"]
    with psycopg.connect(bi_line) as bi:
        assert bi.execute("SELECT current_user, game_id FROM marts.games").fetchall() == [(BI_ROLE, "on-the-replica")]
    # psql's URL (administration, migrations) stays the primary's
    assert run_monkeytown({**env, "MONKEYTOWN_READ_DATABASE_URL": replica}, "db", "url").stdout == primary + "\n"
