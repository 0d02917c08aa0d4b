"""The whole retention policy as a user meets it: events landed over four days long ago, the marts built with
`monkeytown dbt build`, then `monkeytown retention run --as-of` a month, three months and a year and a day
later. At every step PostgreSQL holds only what the policy keeps and the archive the rest, row for row; the
rollups and agent runs never change, not even after `dbt build --full-refresh`; inactive players are anonymized
with the same pseudonym everywhere, then deleted; a second run does nothing."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time

import psycopg
import pytest

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from ingest_api.door import LandingRow, admit
from ingest_api.landing import LandingJob, Provenance, land
from orchestration.retention.columns import COLUMNS
from orchestration.retention.restore import archived_days, iter_day_rows
from orchestration.retention.store import open_archive_store
from tests.cli import monkeytown_env, run_monkeytown
from tests.ingest_api.factories import agent_run, game_end, game_start, move

# the last day a year and a few days back, so a year and a day after it is still before today (the system events
# retention itself records today are then not yet due)
LAST_DAY = datetime.now(UTC).date() - timedelta(days=371)
EARLY_DAYS = [LAST_DAY - timedelta(days=62 - n) for n in range(3)]
DAYS = [*EARLY_DAYS, LAST_DAY]
A_MONTH_LATER = EARLY_DAYS[-1] + timedelta(days=31)  # the early system events expire (30 days)
THREE_MONTHS_LATER = EARLY_DAYS[-1] + timedelta(days=91)  # the early game events expire; alice and bob go quiet
A_YEAR_AND_A_DAY_LATER = LAST_DAY + timedelta(days=366)  # everything but agent runs; carol too
ROLLUPS = ("game_activity_daily", "game_activity_hourly", "agent_activity_daily", "ingest_errors_daily")
ORIGINAL_ROWS = f"SELECT {', '.join(COLUMNS[:-1])}, payload::text FROM raw.events WHERE type <> 'retention'"
PSEUDONYM = re.compile(r"^anonymized_[0-9a-f]+$")


def game(game_id: str, player: str, winner: str) -> list[dict]:
    return [game_start(game_id=game_id, session_id=player), move(game_id=game_id, session_id=player),
            move(game_id=game_id, session_id=player), game_end(game_id=game_id, winner=winner)]


def land_the_days(url: str) -> None:
    """alice plays on the first day, bob on the first three, carol only on the last; an agent run and a server
    start every day."""
    players = {EARLY_DAYS[0]: ["alice", "bob"], EARLY_DAYS[1]: ["bob"], EARLY_DAYS[2]: ["bob"], LAST_DAY: ["carol"]}
    with psycopg.connect(url, autocommit=True) as conn:
        for day in DAYS:
            conn.execute("SELECT raw.ensure_events_partition(%s)", (day,))
            received_at = datetime.combine(day, day_time(12), tzinfo=UTC)
            events = [event for number, player in enumerate(players[day])
                      for event in game(f"g-{day:%Y%m%d}-{player}", player, player if number % 2 == 0 else "ai")]
            verdicts = [admit(event, received_at) for event in events]
            verdicts.append(admit(agent_run(), received_at, endpoint=AGENT_RUNS_ENDPOINT))
            verdicts.append(admit({"event_id": f"server_start-{uuid.uuid4().hex}", "type": "server_start",
                                   "event_data": {"version": "9.9.9", "pid": 1, "host": "h", "workers": 2}},
                                  received_at, endpoint=None))
            assert all(isinstance(verdict, LandingRow) for verdict in verdicts)
            land(conn, [LandingJob(verdicts, [], Provenance())])


def query(url: str, statement: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return sorted(conn.execute(statement).fetchall(), key=repr)


def in_archive(store) -> list[tuple]:
    return sorted((row for manifest in archived_days(store) for row in iter_day_rows(store, manifest.family,
                                                                                    manifest.day)
                   if row[1] != "retention"), key=repr)


def permanent(url: str) -> dict[str, list[tuple]]:
    """What retention must never change: every rollup, the agent runs (raw and mart), the games' facts."""
    tables = {f"marts.{rollup}": f"SELECT * FROM marts.{rollup}" for rollup in ROLLUPS}  # noqa: S608
    tables["marts.agent_runs"] = "SELECT * FROM marts.agent_runs"
    tables["raw agent runs"] = ORIGINAL_ROWS + " AND source = 'ci'"
    tables["marts.games facts"] = ("SELECT game_id, game_type, started_at, ended_at, duration_seconds, move_count,"
                                   " is_abandoned FROM marts.games")
    return {name: query(url, statement) for name, statement in tables.items()}


def retention_run(env: dict, as_of: date) -> list[str]:
    done = run_monkeytown(env, "retention", "run", "--as-of", as_of.isoformat(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def family_days(url: str) -> set[tuple[str, date]]:
    return {(family, day) for family, day, _, rows in query(url, "SELECT * FROM raw.family_days()")
            if rows and day in DAYS}


@pytest.fixture(scope="module")
def platform(make_database, tmp_path_factory):
    url = make_database()
    land_the_days(url)
    env = monkeytown_env(tmp_path_factory.mktemp("home"), url)
    built = run_monkeytown(env, "dbt", "build", "--quiet", timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    store = open_archive_store(f"file://{env['MONKEYTOWN_HOME']}/archive")
    return url, env, store, query(url, ORIGINAL_ROWS), permanent(url)


def test_a_month_later_only_the_expired_system_events_go(platform):
    url, env, store, original, kept = platform
    players_before = query(url, "SELECT * FROM marts.players")
    lines = retention_run(env, A_MONTH_LATER)
    assert lines[-1].startswith(f"as of {A_MONTH_LATER}: archived and dropped 3 family days, 3 rows; "
                                "anonymized 0 players, deleted 0;"), lines
    assert family_days(url) == {(f, d) for d in EARLY_DAYS for f in ("client", "ci")} | {
        (f, LAST_DAY) for f in ("client", "ci", "server")}
    assert sorted(query(url, ORIGINAL_ROWS) + in_archive(store), key=repr) == original
    assert permanent(url) == kept and query(url, "SELECT * FROM marts.players") == players_before


def test_three_months_later_the_game_days_go_and_the_quiet_players_are_anonymized_everywhere(platform):
    url, env, store, original, kept = platform
    wins_before = query(url, "SELECT games_played, games_won FROM marts.players WHERE session_id <> 'carol'")
    lines = retention_run(env, THREE_MONTHS_LATER)
    assert lines[-1].startswith(f"as of {THREE_MONTHS_LATER}: archived and dropped 4 family days, 17 rows; "
                                "anonymized 2 players, deleted 0;"), lines
    # the early game days, and the last day's system events (31 days old by then)
    assert family_days(url) == {("ci", d) for d in EARLY_DAYS} | {(f, LAST_DAY) for f in ("client", "ci")}
    assert sorted(query(url, ORIGINAL_ROWS) + in_archive(store), key=repr) == original  # archived before anonymized

    players = dict(query(url, "SELECT player_id, session_id FROM marts.players"))
    assert players["carol"] == "carol" and len(players) == 3
    pseudonyms = [player for player in players if player != "carol"]
    assert all(PSEUDONYM.match(p) and players[p] == p for p in pseudonyms)
    assert query(url, "SELECT games_played, games_won FROM marts.players WHERE session_id <> 'carol'") == wins_before
    # the winner follows its player; the moves of the dropped days follow their events out of the marts
    assert {winner for (winner,) in query(url, "SELECT winner FROM marts.games")} <= {*pseudonyms, "ai", "carol"}
    assert query(url, "SELECT DISTINCT player_id FROM marts.games WHERE player_id <> 'carol'") == \
        sorted((p,) for p in pseudonyms)
    assert query(url, f"SELECT count(*) FROM marts.moves WHERE occurred_at < '{LAST_DAY}'") == [(0,)]  # noqa: S608
    assert permanent(url) == kept

    rebuilt = run_monkeytown(env, "dbt", "build", "--full-refresh", "--quiet", timeout=600)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert permanent(url) == kept and dict(query(url, "SELECT player_id, session_id FROM marts.players")) == players


def test_a_year_and_a_day_later_only_agent_runs_stay_and_every_player_is_deleted(platform):
    url, env, store, original, kept = platform
    lines = retention_run(env, A_YEAR_AND_A_DAY_LATER)
    assert lines[-1].startswith(f"as of {A_YEAR_AND_A_DAY_LATER}: archived and dropped 1 family days, 4 rows; "
                                "anonymized 1 player, deleted 3;"), lines
    assert family_days(url) == {("ci", d) for d in DAYS}
    assert sorted(query(url, ORIGINAL_ROWS) + in_archive(store), key=repr) == original
    assert permanent(url) == kept
    assert query(url, "SELECT count(*) FROM marts.players") == [(0,)]
    assert query(url, "SELECT count(*) FROM marts.games WHERE session_id IS NOT NULL OR player_id IS NOT NULL"
                      " OR winner NOT IN ('ai', 'deleted_player')") == [(0,)]
    listed = run_monkeytown(env, "archive", "list", "--verify").stdout.splitlines()
    assert sum(" verified " in line for line in listed) == 2 * len(DAYS)

    again = retention_run(env, A_YEAR_AND_A_DAY_LATER)
    assert again[-1].startswith(f"as of {A_YEAR_AND_A_DAY_LATER}: archived and dropped 0 family days, 0 rows; "
                                "anonymized 0 players, deleted 0;"), again
