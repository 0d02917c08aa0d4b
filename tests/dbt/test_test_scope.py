"""An incremental `dbt build` tests what changed since its tests last passed (dbt_project/macros/test_scope.sql):
the rows of a changed grain, never the whole table; `dbt test` reads every row."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from tests.dbt.test_staging import NOW, land_events, monkeytown_dbt

T0 = NOW - timedelta(hours=3)
T1 = NOW - timedelta(hours=2)  # more than the overlap later: the next build's tests no longer read T0's rows
T2 = NOW - timedelta(hours=1)
RELATIONSHIP = "relationships_moves_game_id__game_id__ref_games_"


def game(game_id: str, moves: int, at) -> list[dict]:
    start = {"event_id": f"{game_id}-start", "type": "game_start", "game_id": game_id, "game_type": "chess",
             "session_id": "alice", "timestamp": (at - timedelta(minutes=5)).isoformat()}
    return [start, *({"event_id": f"{game_id}-m{n}", "type": "move", "game_id": game_id, "move_type": "move",
                      "session_id": "alice", "timestamp": (at - timedelta(minutes=4 - n / 10)).isoformat()}
                     for n in range(moves))]


def dbt_test_watermarks(url: str) -> dict[str, object]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT name, validated_through FROM quality.validation_watermarks"
                                 " WHERE name LIKE 'dbt test %'").fetchall())


def test_an_incremental_build_reads_the_changed_games_and_dbt_test_reads_every_row(make_database):
    url = make_database()
    land_events(url, game("old", moves=3, at=T0) + game("kept", moves=1, at=T0), received_at=T0)
    first = monkeytown_dbt(url, "build", "--exclude", "tag:rollup", "tag:dashboard")
    assert first.returncode == 0, first.stdout[-3000:]
    watermarks = dbt_test_watermarks(url)
    assert any(RELATIONSHIP in name for name in watermarks)
    assert set(watermarks.values()) == {T0}, "each passing test moves to the newest arrival at the build's start"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM quality.dbt_build_starts").fetchone() == (0,)

    land_events(url, game("later", moves=1, at=T1), received_at=T1)
    second = monkeytown_dbt(url, "build", "--exclude", "tag:rollup", "tag:dashboard")
    assert second.returncode == 0, second.stdout[-3000:]
    assert set(dbt_test_watermarks(url).values()) == {T1}
    with psycopg.connect(url) as conn:  # damage no arrival explains: the old game's three moves point at no game
        conn.execute("DELETE FROM marts.games WHERE game_id = 'old'")

    land_events(url, game("new", moves=2, at=T2), received_at=T2)
    # games is not rebuilt: the new game's two moves point at no game either, and only they are in scope
    moves_only = monkeytown_dbt(url, "build", "--select", "moves")
    assert moves_only.returncode != 0
    assert f"Failure in test {RELATIONSHIP}" in moves_only.stdout and "Got 2 results" in moves_only.stdout

    everything_new = monkeytown_dbt(url, "build", "--exclude", "tag:rollup", "tag:dashboard")
    assert everything_new.returncode == 0, everything_new.stdout[-3000:]
    assert set(dbt_test_watermarks(url).values()) == {T2}

    complete = monkeytown_dbt(url, "test", "--select", "moves")
    assert complete.returncode != 0
    assert f"Failure in test {RELATIONSHIP}" in complete.stdout and "Got 3 results" in complete.stdout
