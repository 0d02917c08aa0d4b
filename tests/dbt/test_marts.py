"""A scripted set of games in, the marts out: every value worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.system_events import record_server_start
from tests.dbt.test_staging import land_events, monkeytown_dbt

#: Ten minutes into the last full hour, so the scripted five minutes of play fall in one hour and one day.
T0 = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=10, second=0, microsecond=0)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def script() -> list[dict]:
    return [
        # g1: alice wins at chess in three moves; her device reports local time at UTC+02:00
        {"event_id": "g1-start", "type": "game_start", "game_id": "g1", "game_type": "chess",
         "session_id": "alice", "timestamp": (T0 + timedelta(hours=2)).isoformat().replace("+00:00", "+02:00")},
        {"event_id": "g1-m2", "type": "move", "game_id": "g1", "move_type": "capture", "timestamp": at(20)},
        {"event_id": "g1-m1", "type": "move", "game_id": "g1", "move_type": "move", "session_id": "alice",
         "timestamp": at(10)},
        {"event_id": "g1-m3", "type": "move", "game_id": "g1", "move_type": "check", "timestamp": at(20)},
        {"event_id": "g1-end", "type": "game_end", "game_id": "g1", "duration": 42.5, "winner": "alice",
         "timestamp": at(42.5)},
        # g2: bob loses to the AI at tictactoe
        {"event_id": "g2-start", "type": "game_start", "game_id": "g2", "game_type": "tictactoe",
         "session_id": "bob", "timestamp": at(100)},
        {"event_id": "g2-m1", "type": "move", "game_id": "g2", "move_type": "place", "timestamp": at(105)},
        {"event_id": "g2-m2", "type": "move", "game_id": "g2", "move_type": "place", "timestamp": at(110)},
        {"event_id": "g2-end", "type": "game_end", "game_id": "g2", "duration": 15, "winner": "ai",
         "timestamp": at(115)},
        # g3: alice abandons a second chess game after one move
        {"event_id": "g3-start", "type": "game_start", "game_id": "g3", "game_type": "chess",
         "session_id": "alice", "timestamp": at(200)},
        {"event_id": "g3-m1", "type": "move", "game_id": "g3", "move_type": "move", "timestamp": at(201)},
        # g4: a malformed session id makes an anonymous player; the game is a draw
        {"event_id": "g4-start", "type": "game_start", "game_id": "g4", "game_type": "go",
         "session_id": "not valid!", "timestamp": at(300)},
        {"event_id": "g4-end", "type": "game_end", "game_id": "g4", "duration": 0, "winner": None,
         "timestamp": at(300)},
    ]


def agent_runs() -> list[dict]:
    return [
        # "completed" is CI's word for succeeded; no duration given: it is finished_at - started_at
        {"run_id": "r1", "agent_name": "FounderAI", "files_created": 3, "files_modified": 7, "status": "completed",
         "started_at": at(-250), "finished_at": at(50)},
        {"run_id": 2, "agent_name": "FounderAI", "files_created": 1, "files_modified": 2, "status": "failed",
         "finished_at": at(60), "duration_seconds": 12.5},
        {"run_id": "r3", "agent_name": "BetaBuilder", "files_created": 0, "files_modified": 4, "status": "cancelled",
         "finished_at": at(70)},
    ]


@pytest.fixture(scope="module")
def marts(make_database):
    url = make_database()
    events = script()
    land_events(url, events)
    land_events(url, agent_runs(), endpoint=AGENT_RUNS_ENDPOINT)
    land_events(url, [events[1]])  # a duplicate: dropped at the door
    record_server_start(url, "9.9.9", 2)
    result = monkeytown_dbt(url, "build")
    assert result.returncode == 0, result.stdout[-3000:]
    return url


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_games(marts):
    assert rows(marts, "SELECT game_id, game_type, session_id, player_id, started_at, ended_at, winner,"
                       " duration_seconds, move_count, is_abandoned FROM marts.games ORDER BY game_id") == [
        ("g1", "chess", "alice", "alice", T0, T0 + timedelta(seconds=42.5), "alice", Decimal("42.5"), 3, False),
        ("g2", "tictactoe", "bob", "bob", T0 + timedelta(seconds=100), T0 + timedelta(seconds=115), "ai",
         Decimal("15"), 2, False),
        ("g3", "chess", "alice", "alice", T0 + timedelta(seconds=200), None, None, None, 1, True),
        ("g4", "go", None, "anon-g4-start", T0 + timedelta(seconds=300), T0 + timedelta(seconds=300), None,
         Decimal("0"), 0, False),
    ]


def test_moves_are_numbered_in_the_order_they_happened(marts):
    assert rows(marts, "SELECT game_id, move_number, event_id, move_type FROM marts.moves"
                       " ORDER BY game_id, move_number") == [
        ("g1", 1, "g1-m1", "move"),
        ("g1", 2, "g1-m2", "capture"),  # same instant as g1-m3: event_id breaks the tie
        ("g1", 3, "g1-m3", "check"),
        ("g2", 1, "g2-m1", "place"),
        ("g2", 2, "g2-m2", "place"),
        ("g3", 1, "g3-m1", "move"),
    ]


def test_players(marts):
    assert rows(marts, "SELECT player_id, session_id, is_anonymous, first_seen_at, last_seen_at, games_played,"
                       " games_won FROM marts.players ORDER BY player_id") == [
        ("alice", "alice", False, T0, T0 + timedelta(seconds=200), 2, 1),
        ("anon-g4-start", None, True, T0 + timedelta(seconds=300), T0 + timedelta(seconds=300), 1, 0),
        ("bob", "bob", False, T0 + timedelta(seconds=100), T0 + timedelta(seconds=100), 1, 0),
    ]


def test_hourly_and_daily_game_activity(marts):
    expected = [  # game_type, started, finished, moves, active players, mean duration of finished games
        ("chess", 2, 1, 4, 1, Decimal("42.500")),  # g3 abandoned; moves without a session name no player
        ("go", 1, 1, 0, 1, Decimal("0.000")),  # the anonymous player is active
        ("tictactoe", 1, 1, 2, 1, Decimal("15.000")),
    ]
    columns = "game_type, games_started, games_finished, moves, active_players, avg_duration_seconds"
    assert rows(marts, f"SELECT hour, {columns} FROM marts.game_activity_hourly ORDER BY 2") == [
        (T0.replace(minute=0), *row) for row in expected]
    assert rows(marts, f"SELECT day, {columns} FROM marts.game_activity_daily ORDER BY 2") == [
        (T0.date(), *row) for row in expected]


def test_dashboard_views(marts):
    assert rows(marts, "SELECT rank, player_id, games_played, games_won, win_rate FROM marts.leaderboard"
                       " ORDER BY rank") == [(1, "alice", 2, 1, Decimal("0.500")), (2, "bob", 1, 0, Decimal("0.000"))]
    assert rows(marts, "SELECT game_type, games_started, games_finished, games_abandoned, players,"
                       " avg_duration_seconds, avg_moves_per_finished_game, last_started_at"
                       " FROM marts.game_type_overview ORDER BY game_type") == [
        ("chess", 2, 1, 1, 1, Decimal("42.500"), Decimal("3.00"), T0 + timedelta(seconds=200)),
        ("go", 1, 1, 0, 1, Decimal("0.000"), Decimal("0.00"), T0 + timedelta(seconds=300)),
        ("tictactoe", 1, 1, 0, 1, Decimal("15.000"), Decimal("2.00"), T0 + timedelta(seconds=100)),
    ]


def test_agent_runs_with_completed_stored_as_succeeded_and_a_duration_from_the_times(marts):
    assert rows(marts, "SELECT run_id, agent_name, files_created, files_modified, status, finished_at,"
                       " duration_seconds FROM marts.agent_runs ORDER BY run_id") == [
        ("2", "FounderAI", 1, 2, "failed", T0 + timedelta(seconds=60), Decimal("12.5")),
        ("r1", "FounderAI", 3, 7, "succeeded", T0 + timedelta(seconds=50), Decimal("300")),
        ("r3", "BetaBuilder", 0, 4, "cancelled", T0 + timedelta(seconds=70), None),
    ]


def test_agent_activity_per_day_and_agent(marts):
    assert rows(marts, "SELECT day, agent_name, runs, succeeded, failed, files_created, files_modified"
                       " FROM marts.agent_activity_daily ORDER BY agent_name") == [
        (T0.date(), "BetaBuilder", 1, 0, 0, 0, 4),
        (T0.date(), "FounderAI", 2, 1, 1, 4, 9),
    ]


def test_system_events(marts):
    assert rows(marts, "SELECT event_type, event_data->>'version' FROM marts.system_events") == [
        ("server_start", "9.9.9")]


def test_building_again_changes_nothing(marts):
    queries = [f"SELECT * FROM marts.{name} ORDER BY 1, 2" for name in (
        "games", "moves", "players", "game_activity_hourly", "game_activity_daily", "leaderboard",
        "game_type_overview", "system_events")]
    before = [rows(marts, q) for q in queries]
    assert monkeytown_dbt(marts, "build").returncode == 0
    assert [rows(marts, q) for q in queries] == before
