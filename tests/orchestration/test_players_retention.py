"""Player retention on a real PostgreSQL, landed through the door and built by dbt once: a player inactive 91 days
gets one pseudonym everywhere with every count kept, the active, anonymous and not yet built players stay as they
were, a dry run and a second run change nothing, a player inactive a year leaves no trace, each run records its
counts, an incremental dbt build afterwards keeps it all and passes the marts' checks, and a full refresh builds
the same marts from raw.events alone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest_api.contracts import contracts
from orchestration.quality.checks import validate_mart
from orchestration.quality.environment import quality_environment
from orchestration.quality.mart_rules import MART_SUITES
from orchestration.quality.raw_rules import view_sql
from orchestration.retention.players import (
    ANONYMIZED,
    DELETED,
    DELETED_WINNER,
    PlayersOutcome,
    UnknownPlayerColumns,
    anonymize_inactive_players,
    delete_inactive_players,
    player_pseudonym,
)
from tests.dbt.test_staging import land_events, monkeytown_dbt
from tests.ingest_api.factories import new_id

KEY = b"a-test-anonymization-key-0123456789"
NOW = datetime.now(UTC).replace(microsecond=0)
AS_OF = NOW.date()
OLD = "oldie-4c1e"  # last played 100 days ago: anonymized
ANCIENT = "ancient-9b2d"  # last played 400 days ago: anonymized, then deleted
RECENT = "recent-7a3f"  # played 100 days ago and today: untouched
STRAGGLER = "straggler-5e8c"  # 100 days ago in the marts, and a game today that they were not built from yet
MALFORMED_SESSION = "not valid!"  # the door makes an anonymous player of it
AGO_100, AGO_400 = NOW - timedelta(days=100), NOW - timedelta(days=400)
CLIENT_ROWS = "SELECT event_id, type, session_id, player_id, is_anonymous, payload::text FROM raw.events" \
              " WHERE source = 'client' ORDER BY event_id"
SNAPSHOT = {
    "raw": CLIENT_ROWS,
    "games": "SELECT * FROM marts.games ORDER BY game_id",
    "moves": "SELECT * FROM marts.moves ORDER BY event_id",
    "players": "SELECT * FROM marts.players ORDER BY player_id",
    "player_active_days": "SELECT * FROM marts.player_active_days ORDER BY player_id, day",
    "leaderboard": "SELECT * FROM marts.leaderboard ORDER BY player_id",
    "game_participants": "SELECT * FROM marts.game_participants ORDER BY game_id, participant",
    "rating_history": "SELECT * FROM marts.rating_history ORDER BY game_id, player_id",
    "player_ratings": "SELECT * FROM marts.player_ratings ORDER BY player_id, game_type",
    "retention_events": "SELECT count(*) FROM raw.events WHERE type = 'retention'",
}
NO_WINNER = object()  # an abandoned game: no game_end


def game(game_id: str, starter: str, at: datetime, movers: tuple[str | None, ...] = (),
         winner: str | None | object = NO_WINNER, scores: dict | None = None) -> list[dict]:
    """A game's events through the door: started by `starter`, one move per mover (None: a move without a
    session), ended with `winner`; a second apart."""
    stamp = lambda seconds: (at + timedelta(seconds=seconds)).isoformat()  # noqa: E731
    events = [{"event_id": new_id(), "type": "game_start", "game_id": game_id, "game_type": "chess",
               "session_id": starter, "timestamp": stamp(0)}]
    for number, mover in enumerate(movers, start=1):
        events.append({"event_id": new_id(), "type": "move", "game_id": game_id, "move_type": "place",
                       "timestamp": stamp(number), **({"session_id": mover} if mover else {})})
    if winner is not NO_WINNER:
        events.append({"event_id": new_id(), "type": "game_end", "game_id": game_id, "duration": len(movers) + 1,
                       "winner": winner, "timestamp": stamp(len(movers) + 1),
                       **({"scores": scores} if scores else {})})
    return events


def land_at(url: str, events: list[dict], at: datetime) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        # landing remembers the days it made per process, across the session's databases
        conn.execute("SELECT raw.ensure_events_partition(%s)", (at.date(),))
    land_events(url, events, received_at=at + timedelta(minutes=5))


def snapshot(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in SNAPSHOT.items()}


def rows(url: str, query: str, params: tuple | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def run(url: str, step, *args, **options) -> PlayersOutcome:
    with psycopg.connect(url, autocommit=True) as conn:
        return step(conn, *args, **options)


@dataclass
class Story:
    """One database through every step: what each step returned (`ran`) and the snapshot after it (`left`), by
    step: anonymize or delete, each as a dry run, a run, and the same run again."""

    url: str
    before: dict
    ran: dict[str, PlayersOutcome] = field(default_factory=dict)
    left: dict[str, dict] = field(default_factory=dict)


@pytest.fixture(scope="module")
def story(make_database) -> Story:
    url = make_database()
    land_at(url, [*game("g-old-1", OLD, AGO_100, (OLD, OLD), OLD), *game("g-old-2", OLD, AGO_100, (None,), "ai"),
                  *game("g-rec-old", RECENT, AGO_100, (), RECENT),
                  *game("g-anon", MALFORMED_SESSION, AGO_100, (), None),
                  *game("g-str-old", STRAGGLER, AGO_100, (), STRAGGLER)], AGO_100)
    land_at(url, [*game("g-anc-1", ANCIENT, AGO_400, (ANCIENT,), ANCIENT),
                  *game("g-anc-2", ANCIENT, AGO_400, (OLD,), OLD, {ANCIENT: 1, OLD: 2})], AGO_400)
    land_at(url, game("g-rec-new", RECENT, NOW - timedelta(hours=1), (RECENT,), RECENT), NOW - timedelta(hours=1))
    built = monkeytown_dbt(url, "build")
    assert built.returncode == 0, built.stdout[-3000:]
    land_at(url, game("g-str-new", STRAGGLER, NOW - timedelta(minutes=30)), NOW - timedelta(minutes=30))

    told = Story(url, snapshot(url))
    for action, step, args in (("anonymize", anonymize_inactive_players, (KEY, AS_OF, 90)),
                               ("delete", delete_inactive_players, (AS_OF, 365))):
        for name, dry_run in ((f"dry {action}", True), (action, False), (f"{action} again", False)):
            told.ran[name] = run(url, step, *args, dry_run=dry_run)
            told.left[name] = snapshot(url)
    return told


def renamed(value, names: dict[str, str]):
    """A snapshot row (or value) with every identifier in `names` replaced, also inside JSON text."""
    if isinstance(value, tuple | list):
        return type(value)(renamed(item, names) for item in value)
    if isinstance(value, str):
        for old, new in names.items():
            value = value if value != old else new
            value = value.replace(f'"{old}"', f'"{new}"')
        return value
    return value


def mentions(url: str, text: str) -> dict[str, int]:
    """Rows of every table and materialized view in schemas raw and marts whose text holds `text`."""
    with psycopg.connect(url) as conn:
        relations = conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class AS c"
            " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname IN ('raw', 'marts') AND c.relkind IN ('r', 'm') ORDER BY 1").fetchall()
        found = {name: conn.execute(f"SELECT count(*) FROM {name} AS t WHERE t::text LIKE %s",
                                    (f"%{text}%",)).fetchone()[0] for (name,) in relations}
    return {name: count for name, count in found.items() if count}


def test_a_pseudonym_is_a_keyed_hash_in_the_form_of_a_well_formed_session_id():
    well_formed = contracts()["game_start"].well_formed["session_id"]
    pseudonym = player_pseudonym(KEY, OLD)
    assert re.fullmatch(r"anonymized_[0-9a-f]{32}", pseudonym) and well_formed.fullmatch(pseudonym)
    assert player_pseudonym(KEY, OLD) == pseudonym
    assert player_pseudonym(b"another-key-of-the-same-length-0123", OLD) != pseudonym
    assert player_pseudonym(KEY, RECENT) != pseudonym


def test_a_player_inactive_91_days_has_one_pseudonym_everywhere_and_every_count_holds(story):
    names = {OLD: player_pseudonym(KEY, OLD), ANCIENT: player_pseudonym(KEY, ANCIENT)}
    for table in ("raw", "games", "moves", "players", "player_active_days", "leaderboard", "game_participants",
                  "rating_history", "player_ratings"):
        assert sorted(story.left["anonymize"][table]) == sorted(renamed(story.before[table], names)), table
    assert story.left["anonymize"]["raw"] != story.before["raw"]
    assert rows(story.url, "SELECT games_played, games_won FROM marts.players WHERE player_id = %s",
                (names[OLD],)) == [(2, 1)]
    assert rows(story.url, "SELECT winner FROM marts.games WHERE game_id IN ('g-old-1', 'g-anc-2')") == [
        (names[OLD],), (names[OLD],)]
    # OLD played g-old-1, g-old-2 (rated, against the ai) and g-anc-2 (rated, against ANCIENT), ANCIENT g-anc-1, g-anc-2
    assert story.ran["anonymize"] == PlayersOutcome(ANONYMIZED, AS_OF, AS_OF - timedelta(days=90), 2, {
        "raw.events": 11, "marts.game_participants": 5, "marts.games": 4, "marts.moves": 4,
        "marts.player_active_days": 3, "marts.player_ratings": 2, "marts.players": 2, "marts.rating_history": 3})


def test_active_anonymous_and_not_yet_built_players_are_untouched(story):
    def of(snapshot: dict) -> list:
        return [row for table in ("raw", "games", "moves", "players") for row in snapshot[table]
                if {RECENT, STRAGGLER} & set(row) or any(str(value).startswith("anon-") for value in row)]

    assert len(of(story.before)) > 10
    assert of(story.left["anonymize"]) == of(story.before) == of(story.left["delete"])
    assert {player_id for (player_id,) in rows(story.url, "SELECT player_id FROM marts.players")} >= {
        RECENT, STRAGGLER}


def test_a_dry_run_changes_nothing_and_counts_what_the_run_then_changes(story):
    assert story.left["dry anonymize"] == story.before
    assert story.ran["dry anonymize"] == PlayersOutcome(**{**vars(story.ran["anonymize"]), "dry_run": True})
    assert story.left["dry delete"] == story.left["anonymize again"]
    assert story.ran["dry delete"] == PlayersOutcome(**{**vars(story.ran["delete"]), "dry_run": True})
    assert story.ran["dry anonymize"].line() == (
        f"as of {AS_OF}: would anonymize 2 players inactive since before {AS_OF - timedelta(days=90)}; rows changed:"
        " raw.events 11, marts.game_participants 5, marts.games 4, marts.moves 4, marts.player_active_days 3,"
        " marts.player_ratings 2, marts.players 2, marts.rating_history 3")


def test_a_second_run_changes_nothing(story):
    assert story.ran["anonymize again"].players == 0 and story.ran["anonymize again"].tables == {}
    assert story.left["anonymize again"] == story.left["anonymize"]
    assert story.ran["delete again"].players == 0 and story.left["delete again"] == story.left["delete"]


def test_a_player_inactive_a_year_leaves_no_trace_and_the_games_stay(story):
    for trace in (ANCIENT, player_pseudonym(KEY, ANCIENT)):
        assert mentions(story.url, trace) == {}, trace
    assert mentions(story.url, player_pseudonym(KEY, OLD))  # the player anonymized, not deleted, is still there
    assert story.ran["delete"] == PlayersOutcome(DELETED, AS_OF, AS_OF - timedelta(days=365), 1, {
        "raw.events": 5, "marts.game_participants": 2, "marts.games": 2, "marts.moves": 1,
        "marts.player_active_days": 1, "marts.player_ratings": 1, "marts.players": 1, "marts.rating_history": 1})
    # where ANCIENT won or was scored, the label deleted_player takes their place (as it does in raw.events)
    assert rows(story.url, "SELECT game_id, participant, is_player, result, score FROM marts.game_participants"
                           " WHERE game_id LIKE 'g-anc-%' ORDER BY game_id, participant") == [
        ("g-anc-1", DELETED_WINNER, False, "win", None), ("g-anc-2", player_pseudonym(KEY, OLD), True, "win", 2),
        ("g-anc-2", DELETED_WINNER, False, "loss", 1)]
    assert rows(story.url, "SELECT payload -> 'scores' FROM raw.events WHERE game_id = 'g-anc-2'"
                           " AND type = 'game_end'") == [({DELETED_WINNER: 1, player_pseudonym(KEY, OLD): 2},)]
    assert len(story.left["delete"]["games"]) == len(story.before["games"])
    assert len(story.left["delete"]["moves"]) == len(story.before["moves"])
    assert len(story.left["delete"]["raw"]) == len(story.before["raw"])
    assert rows(story.url, "SELECT game_id, session_id, player_id, winner, move_count FROM marts.games"
                           " WHERE game_id LIKE 'g-anc-%' ORDER BY game_id") == [
        ("g-anc-1", None, None, DELETED_WINNER, 1), ("g-anc-2", None, None, player_pseudonym(KEY, OLD), 1)]
    assert rows(story.url, "SELECT type, jsonb_typeof(payload -> 'session_id'), payload ->> 'winner' FROM raw.events"
                           " WHERE game_id = 'g-anc-1' ORDER BY type") == [
        ("game_end", None, DELETED_WINNER), ("game_start", "null", None), ("move", "null", None)]
    # still what its contract allows, and a shape the raw suite knows: a deleted player
    with psycopg.connect(story.url) as conn, conn.transaction(force_rollback=True):
        conn.execute(view_sql(None))
        states = conn.execute("SELECT type, player_state FROM quality.raw_events_to_validate"
                              " WHERE event_id IN (SELECT event_id FROM raw.events WHERE game_id = 'g-anc-1')"
                              " ORDER BY type").fetchall()
    assert states == [("game_end", "none"), ("game_start", "deleted"), ("move", "deleted")]


def test_each_run_records_its_counts_as_a_system_event(story):
    recorded = rows(story.url, "SELECT payload -> 'event_data' FROM raw.events WHERE type = 'retention'"
                               " ORDER BY occurred_at")
    assert [event for (event,) in recorded] == [
        {"action": outcome.action, "as_of": AS_OF.isoformat(), "players": outcome.players,
         "rows": sum(outcome.tables.values()), "tables": outcome.tables}
        for outcome in (story.ran["anonymize"], story.ran["delete"])]


def test_an_incremental_build_keeps_the_values_a_full_refresh_builds_the_same_and_the_marts_pass_their_checks(
        story, tmp_path):
    built = monkeytown_dbt(story.url, "build")
    assert built.returncode == 0, built.stdout[-3000:]
    after = snapshot(story.url)
    new_game = [row for row in after["games"] if row[0] == "g-str-new"]
    assert new_game and sorted(set(after["games"]) - set(new_game)) == sorted(story.left["delete"]["games"])
    assert after["moves"] == story.left["delete"]["moves"]
    assert {row for row in after["players"] if row[0] != STRAGGLER} == {
        row for row in story.left["delete"]["players"] if row[0] != STRAGGLER}
    assert mentions(story.url, ANCIENT) == {} and mentions(story.url, player_pseudonym(KEY, ANCIENT)) == {}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in quality_environment(story.url, tmp_path).items():
            patch.setenv(name, value)
        # no watermark yet in this database: each suite validates every row of its mart
        outcomes = {suite.name: validate_mart(story.url, suite) for suite in MART_SUITES
                    if suite.name in ("games", "moves", "players")}
    assert {name: [failure.rule for failure in outcome.failures] for name, outcome in outcomes.items()} == {
        "games": [], "moves": [], "players": []}
    assert all(outcome.rows == len(after[name]) for name, outcome in outcomes.items())
    # raw.events and the marts were rewritten alike: the marts built again from raw alone are the same
    rebuilt = monkeytown_dbt(story.url, "run", "--select", "+players", "--full-refresh")
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    assert {table: rows for table, rows in snapshot(story.url).items() if table in ("games", "moves", "players")} == {
        table: rows for table, rows in after.items() if table in ("games", "moves", "players")}
    # so are the participants of each game, rebuilt from raw's history
    rebuilt = monkeytown_dbt(story.url, "run", "--select", "game_participants", "--full-refresh", "--vars",
                             "rebuild_history: true")
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    assert snapshot(story.url)["game_participants"] == after["game_participants"]


def test_a_player_back_with_the_same_session_after_anonymization_merges_into_one_player_when_anonymized_again(
        make_database):
    url, returner = make_database(), "returner-3d6b"
    land_at(url, game("g-ret-1", returner, NOW - timedelta(days=300), (), returner), NOW - timedelta(days=300))
    assert monkeytown_dbt(url, "run", "--select", "+players").returncode == 0
    first = run(url, anonymize_inactive_players, KEY, AS_OF - timedelta(days=200), 90)
    land_at(url, game("g-ret-2", returner, AGO_100, (returner,), returner), AGO_100)
    assert monkeytown_dbt(url, "run", "--select", "games", "moves", "players").returncode == 0
    assert len(rows(url, "SELECT * FROM marts.players")) == 2  # the pseudonym's and the session's again
    second = run(url, anonymize_inactive_players, KEY, AS_OF, 90)
    pseudonym = player_pseudonym(KEY, returner)
    assert (first.players, second.players, second.tables["marts.players"]) == (1, 1, 1)
    assert rows(url, "SELECT player_id, session_id, games_played, games_won, first_seen_at::date, last_seen_at::date"
                     " FROM marts.players") == [(pseudonym, pseudonym, 2, 2, (NOW - timedelta(days=300)).date(),
                                                AGO_100.date())]
    assert rows(url, "SELECT DISTINCT player_id, winner FROM marts.games") == [(pseudonym, pseudonym)]
    assert mentions(url, returner) == {}


def test_before_dbt_ever_ran_the_players_come_from_raw_events_and_only_raw_events_change(make_database):
    url = make_database()
    land_at(url, [*game("g-old", OLD, AGO_100, (OLD,), OLD), *game("g-anon", MALFORMED_SESSION, AGO_100)], AGO_100)
    land_at(url, game("g-new", RECENT, NOW - timedelta(hours=1), (RECENT,), RECENT), NOW - timedelta(hours=1))
    outcome = run(url, anonymize_inactive_players, KEY, AS_OF, 90)
    assert (outcome.players, outcome.tables) == (1, {"raw.events": 3})
    assert rows(url, "SELECT DISTINCT coalesce(player_id, payload ->> 'winner') FROM raw.events"
                     " WHERE game_id = 'g-old'") == [(player_pseudonym(KEY, OLD),)]
    assert mentions(url, OLD) == {} and mentions(url, RECENT) and mentions(url, "anon-")


def test_a_mart_table_naming_players_that_retention_does_not_know_stops_it_before_any_change(make_database):
    url = make_database()
    land_at(url, game("g-old", OLD, AGO_100, (), OLD), AGO_100)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts; CREATE TABLE marts.player_notes (player_id text, note text)")
    before = rows(url, CLIENT_ROWS)
    with pytest.raises(UnknownPlayerColumns, match=r"marts\.player_notes \(player_id\) can hold a player's id"):
        run(url, anonymize_inactive_players, KEY, AS_OF, 90)
    assert rows(url, CLIENT_ROWS) == before
