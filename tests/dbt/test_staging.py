"""`monkeytown dbt` against a real database: the staging models rename and cast the landed events."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from ingest_api.contracts import EVENTS_ENDPOINT
from ingest_api.door import admit
from ingest_api.landing import LandingJob, Provenance, land
from ingest_api.system_events import record_server_start
from tests.cli import monkeytown_env, run_monkeytown

NOW = datetime.now(UTC).replace(microsecond=0)


def monkeytown_dbt(url: str, *args: str) -> subprocess.CompletedProcess:
    return run_monkeytown(monkeytown_env(database_url=url), "dbt", *args, timeout=300)


def land_events(url: str, events: list[dict], received_at: datetime = NOW, endpoint: str = EVENTS_ENDPOINT) -> None:
    """Through the door's rules as if received at `received_at` on `endpoint` (the incremental models go by
    arrival)."""
    rows = [admit(event, received_at, endpoint=endpoint) for event in events]
    assert all(not hasattr(row, "reason") for row in rows), [row.message for row in rows if hasattr(row, "reason")]
    with psycopg.connect(url, autocommit=True) as conn:
        land(conn, [LandingJob(rows, [], Provenance())])


@pytest.fixture(scope="module")
def built(make_database):
    url = make_database()
    land_events(url, [
        # the wall clock of a device at UTC+2: the same digits mean two hours earlier in UTC
        {"event_id": "s1", "type": "game_start", "game_id": "g1", "game_type": "chess", "session_id": "alice",
         "timestamp": (NOW - timedelta(minutes=5)).isoformat().replace("+00:00", "+02:00")},
        {"event_id": "m1", "type": "move", "game_id": "g1", "move_type": "capture", "data": {"from": "e2"}},
        {"event_id": "e1", "type": "game_end", "game_id": "g1", "duration": 42.5, "winner": "alice"},
        {"event_id": "s2", "type": "game_start", "game_id": "g2", "game_type": "go", "session_id": "not valid!"},
    ])
    record_server_start(url, "9.9.9", 2)
    result = monkeytown_dbt(url, "build", "--select", "staging", "source:raw")
    assert result.returncode == 0, result.stdout[-3000:]
    return url


def test_staging_models_rename_and_cast_each_event_family(built):
    with psycopg.connect(built) as conn:
        starts = conn.execute("SELECT event_id, game_type, session_id, player_id, is_anonymous"
                              " FROM staging.stg_raw__game_starts ORDER BY event_id").fetchall()
        [(started_at,)] = conn.execute("SELECT occurred_at FROM staging.stg_raw__game_starts"
                                       " WHERE event_id = 's1'").fetchall()
        moves = conn.execute("SELECT game_id, move_type, data->>'from' FROM staging.stg_raw__moves").fetchall()
        ends = conn.execute("SELECT game_id, duration_seconds, winner FROM staging.stg_raw__game_ends").fetchall()
        system = conn.execute("SELECT event_type, event_data->>'version' FROM staging.stg_raw__system_events"
                              ).fetchall()
    assert starts == [("s1", "chess", "alice", "alice", False), ("s2", "go", None, "anon-s2", True)]
    assert started_at == NOW - timedelta(hours=2, minutes=5)
    assert moves == [("g1", "capture", "e2")]
    assert ends == [("g1", Decimal("42.5"), "alice")]
    assert system == [("server_start", "9.9.9")]


def test_staging_is_views_in_their_own_schema(built):
    with psycopg.connect(built) as conn:
        kinds = dict(conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'staging'").fetchall())
    assert kinds == {name: "v" for name in (
        "stg_raw__game_starts", "stg_raw__moves", "stg_raw__game_ends", "stg_raw__system_events",
        "stg_raw__ingest_errors", "stg_raw__agent_runs")}


def test_a_row_that_bypassed_the_door_fails_the_dbt_tests(make_database):
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:  # a faulty loader writing straight into raw.events
        conn.execute(
            "INSERT INTO raw.events (event_id, type, contract_version, occurred_at, received_at, source, payload)"
            " VALUES ('bad1', 'game_start', 1, now(), now(), 'client', '{\"game_id\": \"g\"}')")
    result = monkeytown_dbt(url, "build", "--select", "staging")
    assert result.returncode != 0
    assert "not_null_stg_raw__game_starts_game_type" in result.stdout
