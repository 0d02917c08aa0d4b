"""marts.retention_cohorts (and marts.player_active_days, what it is built from): players scripted across a month,
landed in rounds of arrivals with a dbt build after each, every cohort worked out by hand; a late event that makes a
player first seen a day earlier moves them to that cohort (emptying one); late activity rebuilds only the cohort it
counts in; `--full-refresh` keeps the history, and a rebuild from raw equals what the incremental runs made; the GX
suite; anonymized players keep counting the same."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import psycopg
import pytest

from ingest_api.contracts import dbt_vars
from orchestration.quality.checks import validate_mart
from orchestration.quality.environment import quality_environment
from orchestration.quality.mart_rules import MART_SUITES
from orchestration.retention.players import anonymize_inactive_players
from tests.dbt.test_marts import rows
from tests.dbt.test_staging import land_events, monkeytown_dbt

D = date(2026, 3, 2)  # the first cohort; long past, so no rollup window of a run reaches it
COHORTS = "SELECT cohort_day, players, d1_retained, d7_retained, d30_retained, d1_rate, d7_rate, d30_rate" \
          " FROM marts.retention_cohorts ORDER BY cohort_day"
EVERYTHING = {"retention_cohorts": "SELECT * FROM marts.retention_cohorts ORDER BY cohort_day",
              "player_active_days": "SELECT * FROM marts.player_active_days ORDER BY player_id, day"}


def at(days: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(D + timedelta(days=days), time(hour, minute), UTC)


def day(days: int) -> date:
    return D + timedelta(days=days)


def start(game_id: str, player: str, moment: datetime) -> dict:
    return {"event_id": f"{game_id}-start", "type": "game_start", "game_id": game_id, "game_type": "chess",
            "session_id": player, "timestamp": moment.isoformat()}


def move(game_id: str, player: str | None, moment: datetime, n: int = 1) -> dict:
    event = {"event_id": f"{game_id}-m{n}", "type": "move", "game_id": game_id, "move_type": "place",
             "timestamp": moment.isoformat()}
    return event | ({"session_id": player} if player else {})


#: Rounds of arrivals: (received at, events) each; a dbt build after each round. The newest arrival of a round is
#: read again by the next (the overlap), so it is chosen not to reach the cohort a round tests for.
FIRST_TWO_DAYS = [
    (at(0, 10, 2), [start("a1", "alice", at(0, 10)), move("a1", "alice", at(0, 10, 1))]),
    (at(0, 11, 1), [start("b1", "bob", at(0, 11))]),
    # a malformed session: an anonymous player, left out of every cohort; so is a move without a session
    (at(0, 13, 1), [start("x1", "not valid!", at(0, 13)), move("x1", None, at(0, 13, 1))]),
    # gina's game crosses midnight: her move at 00:01 makes her active on day 1
    (at(0, 23, 59), [start("g1", "gina", at(0, 23, 58))]),
    (at(1, 0, 2), [move("g1", "gina", at(1, 0, 1))]),
    (at(1, 10, 2), [start("a2", "alice", at(1, 10)), move("a2", "erin", at(1, 10, 1))]),  # erin first moves
    (at(1, 10, 31), [start("h1", "hank", at(1, 10, 30))]),
    (at(1, 15, 1), [start("f1", "frank", at(1, 15))]),
    # carol's phone was offline: her game of day 0 arrives a day later
    (at(1, 16), [start("c1", "carol", at(0, 16, 30)), move("c1", "carol", at(0, 16, 31))]),
]
LATE_HANK = [
    # hank's game of the night before arrives 20 h late: he was first seen on day 0, not day 1
    (at(1, 20), [start("h0", "hank", at(0, 23, 30))]),
]
DAYS_TWO_AND_THREE = [
    (at(3, 10, 1), [start("i1", "ivy", at(3, 10))]),  # ivy alone in the cohort of day 3, for now
    (at(3, 11), [start("e1", "erin", at(2, 12))]),  # erin back on day 2, 23 h late
]
LATE_IVY_AND_THE_MONTH = [
    # ivy's game of the night before: her cohort is day 2, and day 3's is left empty
    (at(3, 12), [start("i0", "ivy", at(2, 23))]),
    (at(7, 10, 1), [start("b2", "bob", at(7, 10))]),
    (at(8, 10, 1), [start("e2", "erin", at(8, 10))]),
    (at(31, 15, 1), [start("f2", "frank", at(31, 15))]),
    (at(31, 16), [start("b3", "bob", at(30, 22))]),  # the newest arrival of the round: bob, 18 h late
]
#: carol back on day 30, a late arrival too: only cohort day 0 counts it.
LATE_CAROL = [(at(31, 20), [start("c2", "carol", at(30, 23))])]
MARKED = {day(1): 99, day(2): 98}  # cohorts nothing in LATE_CAROL can change, marked to see they are left alone


@dataclass
class Story:
    url: str
    cohorts: dict[str, list[tuple]] = field(default_factory=dict)  # after each round (and refresh), by name
    everything: dict[str, dict[str, list[tuple]]] = field(default_factory=dict)


def land(url: str, arrivals: list[tuple[datetime, list[dict]]]) -> None:
    for received_at, events in arrivals:
        land_events(url, events, received_at=received_at)


def build(url: str, *args: str) -> None:
    result = monkeytown_dbt(url, "build", *args)
    assert result.returncode == 0, result.stdout[-3000:]


def everything(url: str) -> dict[str, list[tuple]]:
    return {name: rows(url, query) for name, query in EVERYTHING.items()}


ROUNDS = {"first two days": FIRST_TWO_DAYS, "late hank": LATE_HANK, "days two and three": DAYS_TWO_AND_THREE,
          "late ivy and the month": LATE_IVY_AND_THE_MONTH}


def set_players(url: str, players: dict[date, int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for cohort_day, count in players.items():
            conn.execute("UPDATE marts.retention_cohorts SET players = %s WHERE cohort_day = %s", (count, cohort_day))


@pytest.fixture(scope="module")
def story(make_database) -> Story:
    told = Story(make_database())
    url = told.url
    for name, arrivals in ROUNDS.items():
        land(url, arrivals)
        build(url)
        told.cohorts[name] = rows(url, COHORTS)
    true_players = dict(rows(url, "SELECT cohort_day, players FROM marts.retention_cohorts"))
    set_players(url, MARKED)
    land(url, LATE_CAROL)
    build(url)
    told.cohorts["late carol"] = rows(url, COHORTS)
    build(url, "--full-refresh")  # keeps the history: the marks stay
    told.cohorts["full refresh"] = rows(url, COHORTS)
    set_players(url, {cohort_day: true_players[cohort_day] for cohort_day in MARKED})
    told.everything["incremental"] = everything(url)
    build(url, "--full-refresh", "--vars", json.dumps(dbt_vars() | {"rebuild_history": True}))
    told.everything["rebuilt"] = everything(url)
    return told


def rate(value: str) -> Decimal:
    return Decimal(value)


def test_the_first_two_days_by_hand(story):
    # day 0: alice, bob, carol, gina; alice and gina back on day 1; days 7 and 30 not seen yet: null
    # day 1: erin (her first move), hank, frank; day 2 not seen yet
    assert story.cohorts["first two days"] == [
        (day(0), 4, 2, None, None, rate("0.5000"), None, None),
        (day(1), 3, None, None, None, None, None, None),
    ]


def test_a_late_event_moves_a_player_to_the_cohort_of_the_day_it_happened(story):
    # hank's night game: first seen on day 0 (and back on day 1), no longer in day 1's cohort
    assert story.cohorts["late hank"] == [
        (day(0), 5, 3, None, None, rate("0.6000"), None, None),
        (day(1), 2, None, None, None, None, None, None),
    ]
    # erin back on day 2; ivy first seen on day 3
    assert story.cohorts["days two and three"] == [
        (day(0), 5, 3, None, None, rate("0.6000"), None, None),
        (day(1), 2, 1, None, None, rate("0.5000"), None, None),
        (day(3), 1, None, None, None, None, None, None),
    ]


def test_cohorts_by_hand_a_month_on(story):
    assert story.cohorts["late ivy and the month"] == [
        # alice back on day 1 only, gina (after midnight) and hank too, bob on days 7 and 30, carol never
        (day(0), 5, 3, 1, 1, rate("0.6000"), rate("0.2000"), rate("0.2000")),
        # erin back on days 1 (day 2) and 7 (day 8), frank on day 30 (day 31)
        (day(1), 2, 1, 1, 1, rate("0.5000"), rate("0.5000"), rate("0.5000")),
        # ivy, first seen on day 2 by her late game and back on day 3; nobody seen on day 9 or 32 yet
        (day(2), 1, 1, None, None, rate("1.0000"), None, None),
        # day 3's cohort, ivy alone, is gone
    ]


def test_late_activity_rebuilds_only_the_cohort_it_counts_in(story):
    month = story.cohorts["late ivy and the month"]
    assert story.cohorts["late carol"] == [
        (day(0), 5, 3, 1, 2, rate("0.6000"), rate("0.2000"), rate("0.4000")),  # carol back on day 30
        (day(1), 99, *month[1][2:]),  # marked, and left alone
        (day(2), 98, *month[2][2:]),
    ]


def test_a_full_refresh_keeps_the_history(story):
    assert story.cohorts["full refresh"] == story.cohorts["late carol"]


def test_a_rebuild_from_raw_equals_the_incremental_runs(story):
    assert story.everything["rebuilt"] == story.everything["incremental"]
    assert len(story.everything["incremental"]["retention_cohorts"]) == 3  # not a comparison of empty sets


def test_cohorts_hold_the_players_of_marts_players_by_their_first_seen_day(story):
    assert rows(story.url, """
        SELECT (first_seen_at AT TIME ZONE 'UTC')::date, count(*)::integer FROM marts.players
        WHERE NOT is_anonymous GROUP BY 1 ORDER BY 1""") == rows(
        story.url, "SELECT cohort_day, players FROM marts.retention_cohorts ORDER BY 1")
    assert rows(story.url, "SELECT count(*) FROM marts.player_active_days WHERE player_id LIKE 'anon-%'") == [(0,)]


def test_what_the_dashboard_reads_is_a_select_of_the_mart(story):
    [(plan,)] = rows(story.url, "EXPLAIN (FORMAT JSON) SELECT cohort_day, players, d1_rate, d7_rate, d30_rate"
                                " FROM marts.retention_cohorts WHERE cohort_day >= date '2026-01-01'"
                                " ORDER BY cohort_day")
    nodes, todo = set(), [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.add(node.get("Relation Name"))
        todo += node.get("Plans", [])
    assert nodes - {None} == {"retention_cohorts"}


def test_the_quality_suite_passes_the_cohorts_and_fails_a_broken_row(story, tmp_path, monkeypatch):
    for name, value in quality_environment(story.url, tmp_path).items():
        monkeypatch.setenv(name, value)
    [suite] = [suite for suite in MART_SUITES if suite.name == "retention_cohorts"]
    passed = validate_mart(story.url, suite)
    assert (passed.rows, passed.failures) == (3, [])
    with psycopg.connect(story.url, autocommit=True) as conn:
        conn.execute("UPDATE marts.retention_cohorts SET d7_retained = players + 1, d7_rate = 1.5"
                     " WHERE cohort_day = %s", (day(1),))
    try:
        failed = validate_mart(story.url, suite)
    finally:
        with psycopg.connect(story.url, autocommit=True) as conn:
            conn.execute("UPDATE marts.retention_cohorts SET d7_retained = 1, d7_rate = 0.5 WHERE cohort_day = %s",
                         (day(1),))
    assert sorted((failure.rule, failure.severity, failure.rows) for failure in failed.failures) == [
        (rule, "critical", [{"cohort_day": day(1).isoformat()}])
        for rule in ("d7_rate_between_0_and_1", "d7_retained_at_most_players")]
    assert rows(story.url, COHORTS)[1] == story.cohorts["late ivy and the month"][1]


def test_anonymized_players_keep_counting_the_same(story):
    before = rows(story.url, COHORTS)
    with psycopg.connect(story.url, autocommit=True) as conn:
        outcome = anonymize_inactive_players(conn, b"a-test-anonymization-key-0123456789", day(200), 90)
    assert outcome.players == 8
    assert rows(story.url, "SELECT count(*) FROM marts.player_active_days WHERE player_id NOT LIKE 'anonymized_%'"
                ) == [(0,)]
    build(story.url)
    assert rows(story.url, COHORTS) == before
    build(story.url, "--full-refresh", "--vars", json.dumps(dbt_vars() | {"rebuild_history": True}))
    assert rows(story.url, COHORTS) == before
