"""GET /api/counters against a real PostgreSQL: exact after known events (duplicates, game ends, sessions, arrivals
older than a window), moving at each commit, exact with two gunicorn workers posting at once, behind a read key,
and read from the live tables alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import jsonschema
import orjson
import psycopg
import pytest
import requests

from ingest_api import migrate
from ingest_api.app import create_app
from ingest_api.counters import COUNTERS_SQL, HOUR, IN_PROGRESS_WINDOW, MINUTE, ONLINE_WINDOW, read_counters
from ingest_api.door import LandingRow, admit
from ingest_api.landing import LandingJob, Provenance, land
from tests.conftest import WRITE_KEY
from tests.ingest_api.factories import game_end, game_start, move
from tests.ingest_api.http import post
from tests.servers import AUTH, api_server

COUNTERS = "/api/counters"
LIVE_TABLES = "live.counts, live.games, live.sessions"

#: What each counter must equal, computed from raw.events as of a moment (the counters' own definition).
REFERENCE_SQL = """
WITH clock AS (SELECT date_trunc('second', %(as_of)s::timestamptz) AS second),
games AS (
    SELECT game_id, min(received_at) FILTER (WHERE type = 'game_start') AS started_at,
           min(received_at) FILTER (WHERE type = 'game_end') AS ended_at
    FROM raw.events WHERE type IN ('game_start', 'game_end') GROUP BY game_id
)
SELECT (SELECT count(*) FROM raw.events, clock WHERE received_at >= second - interval '1 minute'),
       (SELECT count(*) FROM raw.events, clock WHERE received_at >= second - interval '1 hour'),
       (SELECT count(*) FROM games, clock WHERE started_at >= second - interval '1 hour'),
       (SELECT count(*) FROM games, clock WHERE started_at >= second - interval '24 hours' AND ended_at IS NULL),
       (SELECT count(DISTINCT session_id) FROM raw.events, clock WHERE received_at >= second - interval '5 minutes')
"""


@pytest.fixture
def clean_live(clean_raw):
    clean_raw.execute(f"TRUNCATE {LIVE_TABLES}")
    return clean_raw


def counters_now(client, headers: dict) -> dict:
    response = client.get(COUNTERS, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def numbers(counters: dict) -> tuple:
    return (counters["events_last_minute"], counters["events_last_hour"], counters["games_started_last_hour"],
            counters["games_in_progress"], counters["players_online"])


def reference(db, as_of: str | datetime) -> tuple:
    return db.execute(REFERENCE_SQL, {"as_of": as_of}).fetchone()


def arrive(db, events: list[dict], received_at: datetime) -> list[str]:
    """Lands `events` through the write path as if received at `received_at`; their statuses."""
    rows = [admit(event, received_at, serialized=orjson.dumps(event)) for event in events]
    assert all(isinstance(row, LandingRow) for row in rows), rows
    (outcome,) = land(db, [LandingJob(rows, [], Provenance(request_id="req-1", key_name="tests"))])
    return outcome.statuses


# --- exact after known events --------------------------------------------------------------------------------


def test_counters_are_exact_after_known_events(clean_live, client, auth):
    db, now = clean_live, datetime.now(UTC)
    seconds_ago = now - timedelta(seconds=10)
    duplicated = move(game_id="g1", session_id="s1")
    assert arrive(db, [game_start(game_id="g1", session_id="s1"), duplicated, move(game_id="g1")], seconds_ago) \
        == ["accepted"] * 3
    assert arrive(db, [duplicated], seconds_ago) == ["duplicate"]  # never counts twice
    assert arrive(db, [game_start(game_id="g1", session_id="s1")], seconds_ago) == ["accepted"]  # g1 started already
    arrive(db, [game_start(game_id="g2", session_id="s2")], now - timedelta(minutes=2))
    arrive(db, [game_end(game_id="g2")], seconds_ago)  # g2 is over
    arrive(db, [game_start(game_id="g3", session_id="s3")], now - timedelta(minutes=30))  # s3 not online
    arrive(db, [game_start(game_id="g4", session_id="s4")], now - timedelta(hours=2))  # in progress, not this hour
    arrive(db, [game_start(game_id="g5", session_id="s5")], now - timedelta(hours=24, minutes=30))  # abandoned
    arrive(db, [game_end(game_id="g6")], now - timedelta(minutes=3))  # the end arrives before the start
    arrive(db, [game_start(game_id="g6", session_id="s6")], now - timedelta(minutes=1, seconds=30))
    arrive(db, [move(game_id="g7", session_id="not a session!")], seconds_ago)  # anonymous: an event, no player

    counters = counters_now(client, auth)
    # last minute: g1's start, 2 moves, its second start, g2's end, g7's move
    # last hour: those, g2's start, g3's start, g6's end and start
    assert numbers(counters) == (6, 10, 4, 3, 3)  # started: g1 g2 g3 g6; in progress: g1 g3 g4; online: s1 s2 s6
    assert numbers(counters) == reference(db, counters["as_of"])
    assert abs(datetime.fromisoformat(counters["as_of"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_counters_move_with_each_committed_event_and_a_duplicate_never_counts(clean_live, client, auth):
    before = numbers(counters_now(client, auth))
    assert before == (0, 0, 0, 0, 0)
    start = game_start(game_id="g-live", session_id="s-live")
    assert post(client, start, auth).get_json()["status"] == "accepted"
    assert numbers(counters_now(client, auth)) == (1, 1, 1, 1, 1)
    assert post(client, start, auth).get_json()["status"] == "duplicate"
    assert post(client, [start, move(game_id="g-live", session_id="s-live")], auth).get_json()["duplicates"] == 1
    assert numbers(counters_now(client, auth)) == (2, 2, 1, 1, 1)
    post(client, game_end(game_id="g-live"), auth)
    assert numbers(counters_now(client, auth)) == (3, 3, 1, 0, 1)


def test_the_migration_starts_the_counters_from_what_already_arrived(make_database):
    url = make_database(migrated=False)
    migrate.upgrade(url, target=6)
    now = datetime.now(UTC)
    rows = [("b1", "game_start", "g1", "s1", now - timedelta(seconds=20)),
            ("b2", "move", "g1", "s1", now - timedelta(minutes=10)),
            ("b3", "game_start", "g2", "s2", now - timedelta(hours=3)),
            ("b4", "game_end", "g2", None, now - timedelta(hours=2)),
            ("b5", "game_start", "g3", "s3", now - timedelta(hours=5))]
    with psycopg.connect(url, autocommit=True) as db:
        for event_id, type_, game_id, session_id, at in rows:  # as the landing code before the migration stored them
            db.execute("INSERT INTO raw.events (event_id, type, contract_version, occurred_at, received_at,"
                       " session_id, player_id, game_id, source, payload)"
                       " VALUES (%s, %s, 1, %s, %s, %s, %s, %s, 'client', '{}')",
                       (event_id, type_, at, at, session_id, session_id, game_id))
        migrate.upgrade(url)
        counters = read_counters(db)
        assert (counters.events_last_minute, counters.events_last_hour, counters.games_started_last_hour,
                counters.games_in_progress, counters.players_online) == (1, 2, 1, 2, 1)
        assert reference(db, counters.as_of) == (1, 2, 1, 2, 1)


# --- the live tables ------------------------------------------------------------------------------------------


def test_landing_prunes_what_no_window_reads_and_the_counters_stay_exact(clean_live, client, auth):
    db, now = clean_live, datetime.now(UTC)
    arrive(db, [game_start(game_id="g-old", session_id="s-old")], now - timedelta(hours=24, minutes=10))
    arrive(db, [game_start(game_id="g-over"), game_end(game_id="g-over")], now - timedelta(hours=2))
    arrive(db, [move(game_id="g-x", session_id="s-gone")], now - timedelta(minutes=10))
    arrive(db, [move(game_id="g-x")], now - timedelta(minutes=62))
    arrive(db, [game_start(game_id="g-kept", session_id="s-kept")], now - timedelta(hours=23, minutes=50))
    arrive(db, [move(game_id="g-kept", session_id="s-kept")], now - timedelta(minutes=4))
    arrive(db, [move(game_id="g-kept")], now - timedelta(minutes=59))
    db.execute("INSERT INTO live.sessions (session_id, last_seen_at) VALUES ('s-stale', now() - interval '7 minutes')")
    arrive(db, [move(game_id="g-kept")], datetime.now(UTC))  # the first statement of its second prunes

    assert db.execute("SELECT game_id FROM live.games ORDER BY 1").fetchall() == [("g-kept",)]
    assert db.execute("SELECT session_id FROM live.sessions").fetchall() == [("s-kept",)]
    oldest = dict(db.execute("SELECT span, min(start) FROM live.counts GROUP BY span").fetchall())
    assert oldest["second"] > now - timedelta(minutes=61)
    assert oldest["minute"] > now - timedelta(hours=24, minutes=1)
    counters = counters_now(client, auth)
    assert numbers(counters) == (1, 4, 0, 1, 1)
    assert numbers(counters) == reference(db, counters["as_of"])


def test_the_pruning_takes_a_bounded_batch_and_skips_rows_others_hold_without_waiting(clean_live, database_url):
    clean_live.execute("INSERT INTO live.sessions (session_id, last_seen_at)"
                       " SELECT 'old-' || i, now() - interval '10 minutes' FROM generate_series(1, 1200) AS i"
                       " UNION ALL SELECT 'fresh-' || i, now() FROM generate_series(1, 3) AS i")
    with psycopg.connect(database_url) as holder:  # a writer in the middle of refreshing one of them
        holder.execute("SELECT 1 FROM live.sessions WHERE session_id = 'old-7' FOR UPDATE")
        clean_live.execute("SET lock_timeout = '1s'")
        try:
            left = []
            for _ in range(3):
                clean_live.execute("SELECT live.prune_expired(500)")
                left.append(clean_live.execute("SELECT count(*) FROM live.sessions").fetchone()[0])
        finally:
            clean_live.execute("RESET lock_timeout")
    assert left == [703, 203, 4]  # 'old-7' stays while held; the three fresh ones stay
    clean_live.execute("SELECT live.prune_expired()")
    assert clean_live.execute("SELECT session_id FROM live.sessions WHERE session_id LIKE 'old-%'").fetchall() == []


def test_a_writer_in_another_time_zone_tallies_into_the_same_utc_periods(clean_live, client, auth):
    clean_live.execute("SET TimeZone = 'Asia/Kolkata'")  # UTC+05:30: its local hours start at half past, in UTC
    try:
        arrive(clean_live, [move(session_id="s-kolkata")], datetime.now(UTC) - timedelta(minutes=50))
        starts = clean_live.execute("SELECT span, start AT TIME ZONE 'UTC' FROM live.counts").fetchall()
    finally:
        clean_live.execute("SET TimeZone = 'UTC'")
    assert {span for span, _ in starts} == {"second", "minute", "hour"}
    for span, start in starts:
        assert start.microsecond == 0 and (span == "second" or start.second == 0)
        assert span != "hour" or start.minute == 0
    counters = counters_now(client, auth)
    assert numbers(counters) == (0, 1, 0, 0, 0) == reference(clean_live, counters["as_of"])


def test_the_live_tables_keep_every_row_a_window_reads(db):
    def kept(what: str) -> timedelta:
        return db.execute("SELECT live.kept_for(%s)", (what,)).fetchone()[0]

    # a window starts at a whole second at most a second before its length
    assert kept("second") > HOUR + timedelta(seconds=1)
    assert kept("minute") > IN_PROGRESS_WINDOW + timedelta(seconds=1)
    assert kept("hour") > IN_PROGRESS_WINDOW + timedelta(seconds=1)
    assert kept("open_games") > IN_PROGRESS_WINDOW + timedelta(seconds=1)
    assert kept("sessions") > ONLINE_WINDOW + timedelta(seconds=1)
    assert MINUTE < HOUR < IN_PROGRESS_WINDOW


def test_the_counters_read_the_live_tables_and_never_raw_events(db):
    plan = "\n".join(row[0] for row in db.execute(
        "EXPLAIN (VERBOSE) " + COUNTERS_SQL,
        {"minute": MINUTE, "hour": HOUR, "online": ONLINE_WINDOW, "in_progress": IN_PROGRESS_WINDOW}))
    assert " on live.counts " in plan and " on live.games " in plan
    assert " raw." not in plan


# --- several workers ------------------------------------------------------------------------------------------


def test_two_gunicorn_workers_posting_at_once_count_exactly(make_database, tmp_path):
    url = make_database()
    games = [f"g-{i}" for i in range(60)]
    shared = [move(game_id="g-shared", session_id="s-shared") for _ in range(20)]  # sent by every thread
    with api_server(url, tmp_path / "home", workers=2) as api:
        def send(thread: int) -> None:
            with requests.Session() as http:
                for i, game in enumerate(games[thread::6]):
                    session = f"s-{thread}-{i % 3}"
                    batch = [game_start(game_id=game, session_id=session),
                             *(move(game_id=game, session_id=session) for _ in range(4)), *shared[i::3]]
                    # every other game of the next thread ends, maybe before its start lands
                    other = games[(thread + 1) % 6::6][i]
                    last = game_end(game_id=other) if i % 2 else move(game_id=game, session_id=session)
                    for body in (batch, last):
                        assert http.post(api.url + "/api/events", json=body, headers=AUTH, timeout=30).status_code \
                            == 200

        with ThreadPoolExecutor(max_workers=6) as threads:
            list(threads.map(send, range(6)))
        assert api.get(COUNTERS).status == 401
        counters = requests.get(api.url + COUNTERS, headers=AUTH, timeout=30).json()
        # while the API runs: its stop lands a server_stop, after `as_of` but before a later reference
        with psycopg.connect(url, autocommit=True) as db:
            assert numbers(counters) == reference(db, counters["as_of"])
            # server_start and config_change
            server = db.execute("SELECT count(*) FROM raw.events WHERE source = 'server'").fetchone()[0]
    # events: 6 per game and the 20 shared moves once; in progress: the 30 games that got no game_end
    sent = 60 * 6 + 20 + server
    assert numbers(counters) == (sent, sent, 60, 30, 6 * 3 + 1)


def test_concurrent_landings_that_share_games_and_sessions_neither_deadlock_nor_miscount(clean_live, database_url):
    url = database_url
    sessions = [f"s-{i}" for i in range(5)]
    starts = [game_start(game_id=f"g-{i}", session_id=sessions[i % 5]) for i in range(40)]
    ends = [game_end(game_id=f"g-{i}") for i in range(0, 40, 2)]
    moves = [move(game_id=f"g-{i}", session_id=sessions[(i + 1) % 5]) for i in range(40)]
    barrier = threading.Barrier(4)

    def writer(part: int) -> None:
        mine = [e for k, e in enumerate(starts + ends + moves) if k % 4 == part]
        with psycopg.connect(url, autocommit=True) as conn:
            barrier.wait(timeout=30)
            for k in range(0, len(mine), 3):  # groups in different orders through different connections
                arrive(conn, list(reversed(mine[k:k + 3])) if part % 2 else mine[k:k + 3], datetime.now(UTC))

    with ThreadPoolExecutor(max_workers=4) as threads:
        list(threads.map(writer, range(4)))
    counters = read_counters(clean_live)
    got = (counters.events_last_minute, counters.events_last_hour, counters.games_started_last_hour,
           counters.games_in_progress, counters.players_online)
    assert got == (100, 100, 40, 20, 5)
    assert got == reference(clean_live, counters.as_of)


# --- keys and the document ------------------------------------------------------------------------------------


def test_without_a_key_the_counters_answer_401(client):
    response = client.get(COUNTERS)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="monkeytown"'


def test_with_read_keys_set_a_read_key_reads_and_a_write_key_does_not(database_url, clean_raw):
    app = create_app({"DATABASE_URL": database_url, "WRITE_KEYS": {"tests": WRITE_KEY},
                      "READ_KEYS": {"dashboard": "read-key-0123456789"}})
    try:
        client = app.test_client()
        assert client.get(COUNTERS, headers={"Authorization": f"Bearer {WRITE_KEY}"}).status_code == 401
        assert client.get(COUNTERS, headers={"Authorization": "Bearer read-key-0123456789"}).status_code == 200
    finally:
        app.extensions["monkeytown.ingest"].pool.close()


def test_without_read_keys_the_write_key_reads(client, auth):
    assert client.get(COUNTERS, headers=auth).status_code == 200


def test_the_openapi_document_describes_the_counters_and_the_answer_matches_it(clean_live, client, auth):
    doc = client.get("/openapi.json").get_json()
    operation = doc["paths"][COUNTERS]["get"]
    assert operation["security"] == [{"readKey": []}]
    assert set(operation["responses"]) == {"200", "401", "413", "503"}
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"as_of", "events_last_minute", "events_last_hour", "games_started_last_hour",
                                       "games_in_progress", "players_online"}
    post(client, game_start(), auth)
    jsonschema.validate(counters_now(client, auth), schema, format_checker=jsonschema.FormatChecker())
