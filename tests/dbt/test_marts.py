"""A scripted set of games in, the marts out: every value worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from tests.dbt.test_staging import land_events, monkeytown_dbt

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


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


@pytest.fixture(scope="module")
def marts(make_database):
    url = make_database()
    events = script()
    land_events(url, events)
    land_events(url, [events[1]])  # a duplicate: dropped at the door
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


def test_building_again_changes_nothing(marts):
    queries = ["SELECT * FROM marts.games ORDER BY game_id", "SELECT * FROM marts.moves ORDER BY event_id",
               "SELECT * FROM marts.players ORDER BY player_id"]
    before = [rows(marts, q) for q in queries]
    assert monkeytown_dbt(marts, "build").returncode == 0
    assert [rows(marts, q) for q in queries] == before
