"""Who played each game and their Elo ratings: a scripted sequence of games, every rating worked out by hand with
the Elo formula (K = 32, everyone starts at 1500); a game_end that arrives late replays the later games, and the
result equals a full refresh."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from orchestration.dbt.project import DBT_PROJECT_DIR
from orchestration.quality.checks import validate_mart
from orchestration.quality.environment import quality_environment
from orchestration.quality.mart_rules import MART_SUITES
from tests.dbt.test_marts import rows
from tests.dbt.test_staging import land_events, monkeytown_dbt

NOW = datetime.now(UTC).replace(microsecond=0)
FIRST_ARRIVAL = NOW - timedelta(hours=2)
T0 = NOW - timedelta(hours=5)  # the games were played from here on; all within the door's 24 h
K = 32


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def expected(own: float, other: float) -> float:
    """Elo's expected score of a player rated `own` against one rated `other`."""
    return 1 / (1 + 10 ** ((other - own) / 400))


def start(game: str, session: str, minute: float, game_type: str = "chess") -> dict:
    return {"event_id": f"{game}-start", "type": "game_start", "game_id": game, "game_type": game_type,
            "session_id": session, "timestamp": at(minute)}


def move(game: str, n: int, session: str, minute: float) -> dict:
    return {"event_id": f"{game}-m{n}", "type": "move", "game_id": game, "move_type": "move", "session_id": session,
            "timestamp": at(minute)}


def end(game: str, winner: str | None, minute: float, **extra) -> dict:
    return {"event_id": f"{game}-end", "type": "game_end", "game_id": game, "duration": 60, "winner": winner,
            "timestamp": at(minute), **extra}


G2_END = end("g2", None, 22)  # the draw: its end arrives late, after g3 and g5 were rated

FIRST_BATCH = [
    # g1: alice beats bob; both scored, bob's 1.0 a float and alice's an integer
    start("g1", "alice", 0), move("g1", 1, "alice", 1), move("g1", 2, "bob", 2), move("g1", 3, "alice", 3),
    end("g1", "alice", 10, scores={"alice": 3, "bob": 1.0}),
    # g2: alice and bob again; the game_end (a draw) is held back for the second batch
    start("g2", "bob", 12), move("g2", 1, "bob", 13), move("g2", 2, "alice", 14),
    # g3: bob loses to the ai, whose score is sent as 1e1
    start("g3", "bob", 30), move("g3", 1, "bob", 31), end("g3", "ai", 40, scores={"bob": 2, "ai": 1e1}),
    # g4: alice and carol, abandoned: never rated
    start("g4", "carol", 45), move("g4", 1, "carol", 46), move("g4", 2, "alice", 47),
    # g5: three players, carol wins: one game against each of the others, averaged
    start("g5", "alice", 50), move("g5", 1, "bob", 51), move("g5", 2, "carol", 52), end("g5", "carol", 60),
    # g6: alice beats the ai at checkers, a game type of its own; the ai takes part through its score
    start("g6", "alice", 70, "checkers"), move("g6", 1, "alice", 71),
    end("g6", "alice", 80, scores={"alice": 5, "ai": 2}),
]


def ratings_in_order(with_the_draw: bool) -> dict[str, list[tuple[str, float, float]]]:
    """Each game's (participant, rating before, rating after), worked out by hand, in the order games ended."""
    games = {}
    # g1: equal ratings, so alice expects 0.5 and wins
    alice, bob = 1500.0, 1500.0
    games["g1"] = [("alice", alice, 1516.0), ("bob", bob, 1484.0)]
    alice, bob = 1516.0, 1484.0
    if with_the_draw:
        # g2: a draw, each scoring 0.5 against their expectation
        a2 = alice + K * (0.5 - expected(alice, bob))
        b2 = bob + K * (0.5 - expected(bob, alice))
        games["g2"] = [("alice", alice, a2), ("bob", bob, b2)]
        alice, bob = a2, b2
    # g3: bob loses to the ai, a pseudo-player starting at 1500
    ai = 1500.0
    b3 = bob + K * (0 - expected(bob, ai))
    ai3 = ai + K * (1 - expected(ai, bob))
    games["g3"] = [("ai", ai, ai3), ("bob", bob, b3)]
    bob = b3
    # g5: carol (new, 1500) beats alice and bob; alice and bob both lose, which between them is a draw
    carol = 1500.0
    a5 = alice + K * ((0.5 - expected(alice, bob)) + (0 - expected(alice, carol))) / 2
    b5 = bob + K * ((0.5 - expected(bob, alice)) + (0 - expected(bob, carol))) / 2
    c5 = carol + K * ((1 - expected(carol, alice)) + (1 - expected(carol, bob))) / 2
    games["g5"] = [("alice", alice, a5), ("bob", bob, b5), ("carol", carol, c5)]
    # g6: checkers rates apart from chess: alice starts there at 1500 too and beats the ai's 1500
    games["g6"] = [("ai", 1500.0, 1484.0), ("alice", 1500.0, 1516.0)]
    return games


def history(url: str) -> dict[str, list[tuple[str, float, float]]]:
    games = {}
    for game_id, player, before, after in rows(url, "SELECT game_id, player_id, rating_before, rating_after"
                                                    " FROM marts.rating_history ORDER BY ended_at, game_id, player_id"):
        games.setdefault(game_id, []).append((player, before, after))
    return games


def assert_ratings(url: str, want: dict[str, list[tuple[str, float, float]]]) -> None:
    got = history(url)
    assert list(got) == list(want)  # the same games rated, in the same order
    for game_id, participants in want.items():
        assert [p for p, _, _ in got[game_id]] == [p for p, _, _ in participants], game_id
        for (_, before, after), (_, want_before, want_after) in zip(got[game_id], participants, strict=True):
            assert before == pytest.approx(want_before, abs=1e-9) and after == pytest.approx(want_after, abs=1e-9)


SNAPSHOT = {
    "game_participants": "SELECT * FROM marts.game_participants ORDER BY game_id, participant",
    "rating_history": "SELECT * FROM marts.rating_history ORDER BY game_id, player_id",
    "player_ratings": "SELECT * FROM marts.player_ratings ORDER BY player_id, game_type",
}


def snapshot(url: str) -> dict[str, list[tuple]]:
    return {name: rows(url, query) for name, query in SNAPSHOT.items()}


@pytest.fixture(scope="module")
def rated(make_database):
    url = make_database()
    land_events(url, FIRST_BATCH, received_at=FIRST_ARRIVAL)
    first = monkeytown_dbt(url, "build")
    assert first.returncode == 0, first.stdout[-3000:]
    before_the_draw = history(url)
    land_events(url, [G2_END], received_at=NOW)
    second = monkeytown_dbt(url, "build")
    assert second.returncode == 0, second.stdout[-3000:]
    return url, before_the_draw


def test_each_game_has_one_row_per_participant_with_result_score_and_moves(rated):
    url, _ = rated
    assert rows(url, "SELECT game_id, game_type, participant, is_player, result, score, moves_made"
                     " FROM marts.game_participants ORDER BY game_id, participant") == [
        ("g1", "chess", "alice", True, "win", Decimal(3), 2),
        ("g1", "chess", "bob", True, "loss", Decimal("1.0"), 1),
        ("g2", "chess", "alice", True, "draw", None, 1),
        ("g2", "chess", "bob", True, "draw", None, 1),
        ("g3", "chess", "ai", False, "win", Decimal(10), 0),
        ("g3", "chess", "bob", True, "loss", Decimal(2), 1),
        ("g4", "chess", "alice", True, "abandoned", None, 1),
        ("g4", "chess", "carol", True, "abandoned", None, 1),
        ("g5", "chess", "alice", True, "loss", None, 0),
        ("g5", "chess", "bob", True, "loss", None, 1),
        ("g5", "chess", "carol", True, "win", None, 1),
        ("g6", "checkers", "ai", False, "loss", Decimal(2), 0),
        ("g6", "checkers", "alice", True, "win", Decimal(5), 1),
    ]
    assert rows(url, "SELECT first_move_at, last_move_at FROM marts.game_participants"
                     " WHERE game_id = 'g1' AND participant = 'alice'") == [
        (T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))]


def test_ratings_follow_the_elo_formula_worked_by_hand_and_the_abandoned_game_is_not_rated(rated):
    url, _ = rated
    assert_ratings(url, ratings_in_order(with_the_draw=True))
    assert rows(url, "SELECT count(*) FROM marts.rating_history WHERE game_id = 'g4'") == [(0,)]


def test_player_ratings_hold_each_ones_latest_rating_per_game_type(rated):
    url, _ = rated
    games = ratings_in_order(with_the_draw=True)
    latest = {(player, "chess"): after for game in ("g1", "g2", "g3", "g5") for player, _, after in games[game]}
    latest.update({(player, "checkers"): after for player, _, after in games["g6"]})
    got = rows(url, "SELECT player_id, game_type, rating, games_rated, is_provisional, is_player, last_rated_game"
                    " FROM marts.player_ratings ORDER BY player_id, game_type")
    assert [(p, t) for p, t, *_ in got] == sorted(latest)
    for player, game_type, rating, *_ in got:
        assert rating == pytest.approx(latest[(player, game_type)], abs=1e-9)
    assert [(p, t, n, provisional, is_player, last) for p, t, _, n, provisional, is_player, last in got] == [
        ("ai", "checkers", 1, True, False, "g6"),
        ("ai", "chess", 1, True, False, "g3"),
        ("alice", "checkers", 1, True, True, "g6"),
        ("alice", "chess", 3, True, True, "g5"),
        ("bob", "chess", 4, True, True, "g5"),
        ("carol", "chess", 1, True, True, "g5"),
    ]


def test_a_late_game_end_replays_every_later_game_of_its_type(rated):
    url, before_the_draw = rated
    # before the draw's end arrived, g2 was unrated and g3, g5 were rated from g1's ratings
    want = ratings_in_order(with_the_draw=False)
    assert list(before_the_draw) == list(want)
    for game_id, participants in want.items():
        for (_, before, after), (_, want_before, want_after) in zip(before_the_draw[game_id], participants,
                                                                    strict=True):
            assert (before, after) == (pytest.approx(want_before, abs=1e-9), pytest.approx(want_after, abs=1e-9))
    # and after it, g3 and g5 moved (checked against the hand computation with the draw above)
    assert history(url)["g5"] != before_the_draw["g5"]
    assert history(url)["g6"] == before_the_draw["g6"]  # checkers is a type of its own: untouched


def test_a_full_refresh_builds_exactly_what_the_incremental_runs_built(rated):
    url, _ = rated
    before = snapshot(url)
    result = monkeytown_dbt(url, "build", "--full-refresh", "--vars", "rebuild_history: true")
    assert result.returncode == 0, result.stdout[-3000:]
    assert snapshot(url) == before
    assert len(before["rating_history"]) == 11


def test_the_leaderboard_shows_each_players_rating_per_game_type_beside_games_won(rated):
    url, _ = rated
    games = ratings_in_order(with_the_draw=True)
    alice_chess, alice_checkers = games["g5"][0][2], games["g6"][1][2]
    assert rows(url, "SELECT games_won, ratings, best_rating, best_rating_game_type FROM marts.leaderboard"
                     " WHERE player_id = 'alice'") == [
        (2, {"chess": pytest.approx(round(alice_chess, 1)), "checkers": pytest.approx(round(alice_checkers, 1))},
         pytest.approx(round(max(alice_chess, alice_checkers), 1)),
         "chess" if alice_chess > alice_checkers else "checkers")]


def test_a_leaderboard_built_from_an_older_definition_is_built_again(rated):
    url, _ = rated
    with psycopg.connect(url, autocommit=True) as conn:  # as a deployment made before ratings has it
        conn.execute("DROP MATERIALIZED VIEW marts.leaderboard")
        conn.execute("CREATE MATERIALIZED VIEW marts.leaderboard AS SELECT 1::bigint AS rank, player_id, session_id,"
                     " games_played, games_won, last_seen_at FROM marts.players")
        conn.execute("CREATE INDEX ON marts.leaderboard (rank)")
    result = monkeytown_dbt(url, "build", "--select", "leaderboard")
    assert result.returncode == 0, result.stdout[-3000:]
    assert rows(url, "SELECT ratings ->> 'checkers' FROM marts.leaderboard WHERE player_id = 'alice'") == [
        (str(round(ratings_in_order(with_the_draw=True)["g6"][1][2], 1)),)]
    [(comment,)] = rows(url, "SELECT obj_description('marts.leaderboard'::regclass, 'pg_class')")
    compiled = DBT_PROJECT_DIR / "target" / "compiled" / "monkeytown" / "models" / "marts" / "dashboard"
    assert comment == "dbt definition md5 " + hashlib.md5((compiled / "leaderboard.sql").read_bytes()).hexdigest()
    oid = rows(url, "SELECT 'marts.leaderboard'::regclass::oid")
    refreshed = monkeytown_dbt(url, "build", "--select", "leaderboard")
    assert refreshed.returncode == 0, refreshed.stdout[-3000:]
    assert rows(url, "SELECT 'marts.leaderboard'::regclass::oid") == oid  # unchanged now: refreshed, not rebuilt


def test_the_quality_suites_pass_the_new_marts_and_find_a_rating_that_is_not_finite(rated, tmp_path, monkeypatch):
    url, _ = rated
    for name, value in quality_environment(url, tmp_path).items():
        monkeypatch.setenv(name, value)
    suites = {suite.name: suite for suite in MART_SUITES}
    for name in ("game_participants", "rating_history", "player_ratings"):
        outcome = validate_mart(url, suites[name])
        assert (outcome.rows, [failure.rule for failure in outcome.failures]) == (
            len(rows(url, f"SELECT * FROM marts.{name}")), []), name
    # a rating that is not a number, and one that is infinite, each arriving as a change would
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE marts.player_ratings SET rating = 'NaN', last_received_at = now()"
                     " WHERE player_id = 'carol'")
        conn.execute("UPDATE marts.rating_history SET rating_after = '-Infinity', last_received_at = now()"
                     " WHERE game_id = 'g5' AND player_id = 'carol'")
    try:
        assert [f.rule for f in validate_mart(url, suites["player_ratings"]).failures] == ["rating_finite"]
        assert [f.rule for f in validate_mart(url, suites["rating_history"]).failures] == ["rating_after_finite"]
    finally:
        rebuilt = monkeytown_dbt(url, "build", "--full-refresh", "--select", "rating_history", "player_ratings")
        assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]


def test_an_hour_of_new_games_appends_at_the_end_and_leaves_earlier_ratings_alone(rated):
    url, _ = rated
    earlier = rows(url, "SELECT * FROM marts.rating_history ORDER BY game_id, player_id")
    land_events(url, [start("g7", "carol", 200), move("g7", 1, "carol", 201), end("g7", "ai", 210)],
                received_at=datetime.now(UTC))
    with psycopg.connect(url, autocommit=True) as conn:  # a mark on a row a replay from g7 on must not touch
        conn.execute("UPDATE marts.rating_history SET rating_before = -1 WHERE game_id = 'g1' AND player_id = 'bob'")
    result = monkeytown_dbt(url, "build")
    assert result.returncode == 0, result.stdout[-3000:]
    assert rows(url, "SELECT rating_before FROM marts.rating_history WHERE game_id = 'g1' AND player_id = 'bob'") == [
        (-1.0,)]
    ai_chess = ratings_in_order(with_the_draw=True)["g3"][0][2]
    carol = ratings_in_order(with_the_draw=True)["g5"][2][2]
    assert rows(url, "SELECT player_id, rating_before FROM marts.rating_history WHERE game_id = 'g7'"
                     " ORDER BY player_id") == [("ai", pytest.approx(ai_chess)), ("carol", pytest.approx(carol))]
    assert len(rows(url, "SELECT * FROM marts.rating_history")) == len(earlier) + 2
