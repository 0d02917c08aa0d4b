"""The marts stay consistent with retention (issue 10 item 5): a hundred days of games, system events and agent
runs go through dbt, then retention drops the game days older than 90 days and the system days older than 30.
marts.moves and marts.system_events follow their events out; games, players, the rollups and agent runs keep their
history through `dbt build --full-refresh`, a rollup backfill over dropped days leaves those days as they were,
and only with the var rebuild_history does a full refresh rebuild from what raw still holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import psycopg
import pytest

from ingest_api.contracts import AGENT_RUNS_ENDPOINT, EVENTS_ENDPOINT, dbt_vars
from ingest_api.door import LandingRow, Rejection, admit
from ingest_api.landing import LandingJob, Provenance, land
from orchestration.dbt.partitions import ROLLUP_DAYS, rollup_vars
from orchestration.dbt.project import dbt_vars_args
from orchestration.retention.archive_then_drop import Result, RetentionReport, run_retention
from orchestration.retention.policy import RetentionPolicy
from orchestration.retention.store import open_archive_store
from tests.dbt.test_marts import rows
from tests.dbt.test_staging import monkeytown_dbt
from tests.ingest_api.factories import agent_run

FIRST_DAY = date(2026, 3, 2)  # a Dagster rollup partition, long before the hourly window of any run
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(100)]
POLICY = RetentionPolicy()
AS_OF = DAYS[-1] + timedelta(days=1)
FIRST_GAME_DAY_KEPT = AS_OF - timedelta(days=POLICY.game_events_days)  # DAYS[10]
FIRST_SYSTEM_DAY_KEPT = AS_OF - timedelta(days=POLICY.system_events_days)  # DAYS[70]
#: A Dagster backfill (one run) of two dropped game days and two kept ones.
BACKFILL = (DAYS[8], DAYS[11])
GAME_TYPES = ("chess", "go", "tictactoe")
#: Everything whose rows raw no longer holding a day must not change.
HISTORY = ["games", "players", "game_activity_hourly", "game_activity_daily", "agent_activity_daily",
           "ingest_errors_daily", "agent_runs"]
ROLLUPS = HISTORY[2:6]
MOVER = "mover"  # moves in other players' games on dropped days, starts a game of its own on a kept one


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def game(game_id: str, player: str, game_type: str, start: datetime, moves: list[tuple[str, datetime]],
         end: datetime | None, winner: str | None = None) -> list[dict]:
    events = [{"event_id": f"{game_id}-start", "type": "game_start", "game_id": game_id, "game_type": game_type,
               "session_id": player, "timestamp": start.isoformat()}]
    events += [{"event_id": f"{game_id}-m{n}", "type": "move", "game_id": game_id, "move_type": "place",
                "session_id": mover, "timestamp": moment.isoformat()} for n, (mover, moment) in enumerate(moves, 1)]
    if end is not None:
        events.append({"event_id": f"{game_id}-end", "type": "game_end", "game_id": game_id,
                       "duration": (end - start).total_seconds(), "winner": winner, "timestamp": end.isoformat()})
    return events


def games_of(n: int, day: date) -> list[dict]:
    """Two games a day by five recurring players; MOVER joins the second on the first five days."""
    first, second = f"p{n % 5}", f"p{(n + 2) % 5}"
    events = game(f"a-{n}", first, GAME_TYPES[n % 3], at(day, 10),
                  [(first, at(day, 10, 1)), (first, at(day, 10, 2))], at(day, 10, 3), first if n % 2 else "ai")
    second_moves = [(second, at(day, 11, 1))] + ([(MOVER, at(day, 11, 2))] if n < 5 else [])
    events += game(f"b-{n}", second, "chess", at(day, 11), second_moves, at(day, 11, 5))
    if n == 95:
        events += game("m-95", MOVER, "go", at(day, 9), [(MOVER, at(day, 9, 1))], at(day, 9, 2), MOVER)
    return events


def system_event(n: int) -> dict:
    return {"event_id": f"server-start-{n}", "type": "server_start",
            "event_data": {"version": "9.9.9", "pid": n, "host": "h", "workers": 2}}


#: A game across midnight from the last dropped game day into the first kept one.
NIGHT = game("night", "p-night", "go", at(DAYS[9], 23, 58),
             [("p-night", at(DAYS[9], 23, 59)), ("p-night", at(DAYS[10], 0, 1))], at(DAYS[10], 0, 2), None)


def admitted(events: list[dict], received_at: datetime, endpoint: str | None = EVENTS_ENDPOINT) -> list[LandingRow]:
    verdicts = [admit(event, received_at, endpoint=endpoint) for event in events]
    assert all(isinstance(v, LandingRow) for v in verdicts), [v.message for v in verdicts if isinstance(v, Rejection)]
    return verdicts


def land_history(url: str) -> None:
    """Through the door, each day's events as received at noon: games, a system event, every tenth day an agent
    run and a refused event."""
    jobs = []
    for n, day in enumerate(DAYS):
        noon = at(day, 12)
        landed = admitted(games_of(n, day), noon) + admitted([system_event(n)], noon, endpoint=None)
        refused = []
        if n % 10 == 5:
            landed += admitted([agent_run(run_id=f"run-{n}", finished_at=at(day, 9).isoformat())], noon,
                               endpoint=AGENT_RUNS_ENDPOINT)
            refused.append(admit({"event_id": f"bad-{n}", "type": "game_start", "game_id": "x", "session_id": "p0"},
                                 noon))
            assert isinstance(refused[-1], Rejection)
        jobs.append(LandingJob(landed, refused, Provenance()))
    jobs.append(LandingJob(admitted(NIGHT, at(DAYS[10], 0, 10)), [], Provenance()))
    with psycopg.connect(url, autocommit=True) as conn:
        # landing remembers the days it made per process, across the session's databases
        for day in [*DAYS, datetime.now(UTC).date()]:
            conn.execute("SELECT raw.ensure_events_partition(%s)", (day,))
        land(conn, jobs)


def build(url: str, *args: str) -> None:
    result = monkeytown_dbt(url, "build", *args)
    assert result.returncode == 0, result.stdout[-3000:]


def snapshot(url: str, marts: list[str]) -> dict[str, list[tuple]]:
    return {name: rows(url, f"SELECT * FROM marts.{name} ORDER BY 1, 2") for name in marts}


def event_ids(url: str, sql: str) -> set[str]:
    return {event_id for (event_id,) in rows(url, sql)}


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


@dataclass(frozen=True)
class Stage:
    url: str
    history: dict[str, list[tuple]]  # the HISTORY marts
    moves: list[tuple]
    system_events: list[tuple]


def stage(url: str) -> Stage:
    followers = snapshot(url, ["moves", "system_events"])
    return Stage(url, snapshot(url, HISTORY), followers["moves"], followers["system_events"])


@pytest.fixture(scope="module")
def built(make_database) -> Stage:
    url = make_database()
    land_history(url)
    build(url)
    return stage(url)


@pytest.fixture(scope="module")
def retained(built, tmp_path_factory) -> tuple[RetentionReport, Stage]:
    store = open_archive_store(f"file://{tmp_path_factory.mktemp('retention')}/archive")
    report = run_retention(built.url, store, AS_OF, POLICY)
    return report, stage(built.url)


@pytest.fixture(scope="module")
def refreshed(retained) -> Stage:
    url = retained[1].url
    build(url, "--full-refresh")
    return stage(url)


@pytest.fixture(scope="module")
def backfilled(refreshed) -> Stage:
    """Kept days' rollups marked wrong, MOVER back for a game on the last day, then one build with the window of a
    Dagster backfill over two dropped and two kept days (the vars the rollup assets pass)."""
    url, (first, last) = refreshed.url, BACKFILL
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE marts.game_activity_daily SET moves = moves + 100 WHERE day = %s", (FIRST_GAME_DAY_KEPT,))
        conn.execute("UPDATE marts.game_activity_hourly SET moves = moves + 100 WHERE hour >= %s AND hour < %s",
                     (at(FIRST_GAME_DAY_KEPT, 0), at(FIRST_GAME_DAY_KEPT + timedelta(days=1), 0)))
    back = game("m-99", MOVER, "go", at(DAYS[99], 13), [(MOVER, at(DAYS[99], 13, 1))], at(DAYS[99], 13, 2), MOVER)
    with psycopg.connect(url, autocommit=True) as conn:
        land(conn, [LandingJob(admitted(back, at(DAYS[99], 13, 5)), [], Provenance())])
    window = dg.TimeWindow(ROLLUP_DAYS.time_window_for_partition_key(first.isoformat()).start,
                           ROLLUP_DAYS.time_window_for_partition_key(last.isoformat()).end)
    build(url, *dbt_vars_args(rollup_vars(window)))
    return stage(url)


@pytest.fixture(scope="module")
def rebuilt(backfilled) -> Stage:
    build(backfilled.url, "--full-refresh", "--vars", json.dumps(dbt_vars() | {"rebuild_history": True}))
    return stage(backfilled.url)


def moves_landed_on(day: date) -> set[str]:
    events = [e for n, d in enumerate(DAYS) for e in games_of(n, d)] + NIGHT
    return {e["event_id"] for e in events
            if e["type"] == "move" and day_of(datetime.fromisoformat(e["timestamp"])) == day}


def test_retention_drops_each_expired_day_with_the_mart_rows_of_its_events(retained):
    report, _ = retained
    expected = [(family, day) for day in DAYS for family in ("client", "server")
                if day < (FIRST_GAME_DAY_KEPT if family == "client" else FIRST_SYSTEM_DAY_KEPT)]
    assert [(d.family, d.day) for d in report.days] == expected
    assert {d.outcome for d in report.days} == {Result.ARCHIVED_AND_DROPPED}
    assert [d.mart_rows for d in report.days if d.family == "client"] == [
        {"marts.moves": len(moves_landed_on(day))} for day in DAYS[:10]]
    assert [d.mart_rows for d in report.days if d.family == "server"] == [
        {"marts.system_events": 1}] * (len(expected) - 10)
    assert report.days[0].line().endswith(f"archived_and_dropped, {len(moves_landed_on(FIRST_DAY))} rows from "
                                          "marts.moves")


def test_moves_and_system_events_hold_exactly_the_rows_of_the_days_raw_still_holds(built, retained):
    _, after = retained
    moves_kept = event_ids(after.url, "SELECT event_id FROM raw.events WHERE type = 'move'")
    assert moves_kept == {e for day in DAYS[10:] for e in moves_landed_on(day)}
    assert after.moves == [row for row in built.moves if row[0] in moves_kept]  # the rest as they were
    assert "night-m2" in moves_kept and "night-m1" not in moves_kept  # by event, across midnight

    # the retention events arrived after the build; marts.system_events holds them once dbt runs again
    system_kept = event_ids(after.url, "SELECT event_id FROM raw.events WHERE source = 'server'"
                                       " AND type <> 'retention'")
    assert system_kept == {f"server-start-{n}" for n in range(70, 100)}
    assert after.system_events == [row for row in built.system_events if row[0] in system_kept]


def test_a_full_refresh_keeps_games_players_every_rollup_and_agent_runs(built, refreshed):
    assert refreshed.history == built.history
    # the comparison holds the dropped days' history: games, and their moves in the rollups
    assert {"a-0", "b-0", "night"} <= {row[0] for row in built.history["games"]}
    assert sum(row[4] for row in built.history["game_activity_daily"] if row[0] == FIRST_DAY) == len(
        moves_landed_on(FIRST_DAY))
    assert len(built.history["agent_runs"]) == 10 and len(built.history["ingest_errors_daily"]) == 10
    # a mart that follows its events is rebuilt from raw: the same rows, and the retention events since
    assert event_ids(refreshed.url, "SELECT event_id FROM marts.system_events") == event_ids(
        refreshed.url, "SELECT event_id FROM raw.events WHERE source = 'server'")


def test_a_rollup_backfill_over_dropped_days_leaves_them_as_they_were(built, backfilled):
    # the dropped days unchanged, the kept ones recomputed (the marks gone), nothing outside the window touched
    assert {name: backfilled.history[name] for name in ROLLUPS} == {name: built.history[name] for name in ROLLUPS}
    held = [row for row in built.history["game_activity_daily"] if BACKFILL[0] <= row[0] <= BACKFILL[1]]
    assert sorted({row[0] for row in held}) == DAYS[8:12] and all(row[4] > 0 for row in held)


def test_a_returning_player_keeps_a_first_sighting_retention_dropped(built, backfilled):
    def mover(stage: Stage) -> tuple:
        [row] = [row for row in stage.history["players"] if row[0] == MOVER]
        return row[3], row[4], row[5]  # first_seen_at, last_seen_at, games_played

    assert mover(built) == (at(FIRST_DAY, 11, 2), at(DAYS[95], 9, 1), 1)
    assert mover(backfilled) == (at(FIRST_DAY, 11, 2), at(DAYS[99], 13, 1), 2)


def test_with_rebuild_history_a_full_refresh_rebuilds_from_what_raw_still_holds(built, rebuilt):
    games_in_raw = event_ids(rebuilt.url, "SELECT DISTINCT game_id FROM raw.events WHERE source = 'client'")
    assert {row[0] for row in rebuilt.history["games"]} == games_in_raw
    assert "a-0" not in games_in_raw and "night" in games_in_raw
    assert min(row[0] for row in rebuilt.history["game_activity_daily"]) == FIRST_GAME_DAY_KEPT
    [(first_seen,)] = rows(rebuilt.url, "SELECT first_seen_at FROM marts.players WHERE player_id = 'mover'")
    assert first_seen == at(DAYS[95], 9)
    assert rebuilt.history["agent_runs"] == built.history["agent_runs"]
