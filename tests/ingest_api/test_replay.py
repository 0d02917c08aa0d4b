"""Replay of refused and quarantined events against a real PostgreSQL: the same door, judged as at arrival, the
same write path, exactly once, and the bookkeeping on each raw.ingest_errors row."""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row

from ingest_api import replay
from ingest_api.contracts import EVENTS_ENDPOINT
from ingest_api.door import Rejection, admit
from ingest_api.landing import LandingJob, Provenance, land
from ingest_api.replay import UnknownReason, pending_chunks, replay_errors
from tests.cli import monkeytown_env, run_monkeytown
from tests.ingest_api.factories import agent_run, game_start, move
from tests.ingest_api.http import count

#: A refusal long ago, half an hour before a UTC midnight; replayed six days later, when the same event would
#: be stale if the door judged it at replay time.
ARRIVED = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
REPLAYED = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)


def iso(moment: datetime, hours: int = 0) -> str:
    return moment.astimezone(timezone(timedelta(hours=hours))).isoformat()


def without(event: dict, name: str) -> dict:
    return {k: v for k, v in event.items() if k != name}


def refuse(db, event: object, received_at: datetime = ARRIVED, endpoint: str = EVENTS_ENDPOINT) -> int:
    """Refused by the door as if received at `received_at` and recorded by the write path; its error_id."""
    verdict = admit(event, received_at, serialized=orjson.dumps(event), endpoint=endpoint)
    assert isinstance(verdict, Rejection), verdict
    land(db, [LandingJob([], [verdict], Provenance(request_id="req-1", key_name="tests"))])
    return db.execute("SELECT max(error_id) FROM raw.ingest_errors").fetchone()[0]


def fix(db, error_id: int, payload: dict | str) -> None:
    """What an operator does: corrects the payload in place."""
    text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    db.execute("UPDATE raw.ingest_errors SET payload = %s WHERE error_id = %s", (text, error_id))


def error_row(db, error_id: int) -> dict:
    return db.cursor(row_factory=dict_row).execute(
        "SELECT reason, detail, source, replayed_at, replay_outcome, last_replay_at, last_replay_reason,"
        " last_replay_detail FROM raw.ingest_errors WHERE error_id = %s", (error_id,)).fetchone()


def stored(db, event_id: str) -> dict | None:
    return db.cursor(row_factory=dict_row).execute(
        "SELECT e.type, e.source, e.occurred_at, e.client_timestamp, e.sent_at, e.received_at, e.payload,"
        " l.received_at AS ledger_received_at FROM raw.events AS e JOIN raw.event_ids AS l USING (event_id)"
        " WHERE event_id = %s", (event_id,)).fetchone()


def tallies(report: replay.ReplayReport) -> dict[str, tuple]:
    """Per reason: (examined, landed or would land, already stored, still refused by reason now)."""
    return {reason: (t.examined, t.landed, t.already_stored, dict(t.still_refused))
            for reason, t in report.by_reason.items()}


def quarantine(db, event_id: str, event_type: str | None) -> int:
    """What the quality checks do with a landed row that breaks a rule: out of raw.events and the ledger, its
    stored payload into raw.ingest_errors as schema_mismatch from source quality, with its arrival time."""
    db.execute(
        "WITH moved AS (DELETE FROM raw.events WHERE event_id = %(id)s RETURNING *),"
        " forgotten AS (DELETE FROM raw.event_ids WHERE event_id = %(id)s)"
        " INSERT INTO raw.ingest_errors (received_at, event_id, event_type, reason, field, detail, payload, source)"
        " SELECT received_at, event_id, %(type)s, 'schema_mismatch', 'data', 'expectation failed', payload::text,"
        " 'quality' FROM moved", {"id": event_id, "type": event_type})
    return db.execute("SELECT max(error_id) FROM raw.ingest_errors").fetchone()[0]


# --- a refusal, fixed, replayed once ---------------------------------------------------------------


def test_a_refused_event_fixed_in_place_lands_once_and_its_row_is_marked(client, auth, db, database_url):
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    event = game_start(timestamp=iso(occurred))
    response = client.post("/api/events", json=without(event, "game_type"), headers=auth)
    assert response.status_code == 422 and response.get_json()["field"] == "game_type"
    [(error_id, detail)] = db.execute("SELECT error_id, detail FROM raw.ingest_errors").fetchall()
    fix(db, error_id, event)

    now = datetime.now(UTC)
    report = replay_errors(database_url, now=now)

    assert tallies(report) == {"missing_field": (1, 1, 0, {})}
    assert report.days == {occurred.date()}
    row = stored(db, event["event_id"])
    assert (row["type"], row["source"], row["payload"]) == ("game_start", "client", event)
    assert row["occurred_at"] == occurred == row["client_timestamp"]
    assert row["received_at"] == now == row["ledger_received_at"]
    assert error_row(db, error_id) == {
        "reason": "missing_field", "detail": detail, "source": "api", "replayed_at": now,
        "replay_outcome": "landed", "last_replay_at": None, "last_replay_reason": None, "last_replay_detail": None}

    again = replay_errors(database_url)
    assert tallies(again) == {} and again.total.examined == 0 and again.days == set()
    assert count(db, "raw.events") == 1 and count(db, "raw.ingest_errors") == 1
    assert error_row(db, error_id)["replayed_at"] == now


def test_the_door_judges_a_replay_as_at_arrival_and_the_event_arrives_when_replayed(clean_raw, database_url):
    db = clean_raw
    # a device clock 3 h behind, writing local time at +02:00: it happened 10 min before it arrived
    event = move(timestamp=iso(ARRIVED - timedelta(hours=3, minutes=10), hours=2),
                 sent_at=iso(ARRIVED - timedelta(hours=3), hours=2))
    error_id = refuse(db, without(event, "move_type"))
    fix(db, error_id, event)

    report = replay_errors(database_url, now=REPLAYED)

    assert tallies(report) == {"missing_field": (1, 1, 0, {})}
    row = stored(db, event["event_id"])
    assert row["occurred_at"] == ARRIVED - timedelta(minutes=10)  # skew corrected by the original arrival
    assert row["client_timestamp"] == ARRIVED - timedelta(hours=3, minutes=10)
    assert row["sent_at"] == ARRIVED - timedelta(hours=3)
    assert row["received_at"] == REPLAYED  # the incremental marts pick it up as a new arrival
    assert report.days == {date(2026, 3, 14)}  # the UTC day, not the device's (March 15 at +02:00)


def test_an_event_of_a_family_day_retention_dropped_stays_refused_as_stale(make_database):
    database_url = make_database()  # its own: the dropped family day stays dropped
    event = move(timestamp=iso(ARRIVED - timedelta(minutes=10)))
    day = ARRIVED.date()
    with psycopg.connect(database_url, autocommit=True) as db:
        error_id = refuse(db, without(event, "move_type"))
        fix(db, error_id, event)
        db.execute("SELECT raw.ensure_events_partition(%s)", (day,))
        db.execute("SELECT raw.drop_family_day('client', %s)", (day,))  # as retention does, after archiving it

        report = replay_errors(database_url, now=REPLAYED)

        assert tallies(report) == {"missing_field": (1, 0, 0, {"stale": 1})}
        assert stored(db, event["event_id"]) is None and count(db, "raw.events") == 0  # not in the default table
        row = error_row(db, error_id)
    assert row["replayed_at"] is None and row["last_replay_reason"] == "stale"
    assert f"its day {day} of source client was archived and dropped by retention" in row["last_replay_detail"]


@pytest.mark.parametrize(("reason", "broken", "fixed"), [
    ("missing_field", without(move(event_id="r-missing"), "move_type"), move(event_id="r-missing")),
    ("schema_mismatch", move(event_id="r-mismatch", data="x"), move(event_id="r-mismatch", data={"x": 1})),
    ("stale", move(event_id="r-stale", timestamp=iso(ARRIVED - timedelta(hours=25))),
     move(event_id="r-stale", timestamp=iso(ARRIVED - timedelta(hours=23)))),
    ("future", move(event_id="r-future", timestamp=iso(ARRIVED + timedelta(hours=2))),
     move(event_id="r-future", timestamp=iso(ARRIVED + timedelta(minutes=30)))),
    ("too_large", move(event_id="r-large", data={"blob": "x" * 40_000}), move(event_id="r-large", data={"x": 1})),
])
def test_every_refusal_reason_stays_refused_until_fixed_then_lands(clean_raw, database_url, reason, broken, fixed):
    db = clean_raw
    error_id = refuse(db, broken)
    detail = error_row(db, error_id)["detail"]

    unfixed = replay_errors(database_url, now=REPLAYED)

    assert tallies(unfixed) == {reason: (1, 0, 0, {reason: 1})}
    assert unfixed.days == set() and count(db, "raw.events") == 0
    assert error_row(db, error_id) == {
        "reason": reason, "detail": detail, "source": "api", "replayed_at": None, "replay_outcome": None,
        "last_replay_at": REPLAYED, "last_replay_reason": reason, "last_replay_detail": detail}

    fix(db, error_id, fixed)
    later = REPLAYED + timedelta(hours=1)
    assert tallies(replay_errors(database_url, now=later)) == {reason: (1, 1, 0, {})}
    assert stored(db, fixed["event_id"])["payload"] == fixed
    row = error_row(db, error_id)
    assert (row["replayed_at"], row["replay_outcome"]) == (later, "landed")
    assert (row["last_replay_at"], row["last_replay_reason"]) == (REPLAYED, reason)  # the attempt before


def test_a_badly_fixed_row_keeps_its_reason_and_records_the_new_one(clean_raw, database_url):
    db = clean_raw
    event = game_start()
    error_id = refuse(db, without(event, "game_type"))
    fix(db, error_id, {**event, "game_type": 5})

    report = replay_errors(database_url, now=REPLAYED)

    assert tallies(report) == {"missing_field": (1, 0, 0, {"schema_mismatch": 1})}
    row = error_row(db, error_id)
    assert (row["reason"], row["detail"]) == ("missing_field", "required field 'game_type' is missing")
    assert (row["last_replay_reason"], row["last_replay_detail"]) == ("schema_mismatch", "game_type must be string")


def test_a_payload_that_is_not_json_stays_refused_as_schema_mismatch(clean_raw, database_url):
    db = clean_raw
    error_id = refuse(db, without(move(), "move_type"))
    fix(db, error_id, '{"event_id": "e-1", "type": "move",')

    report = replay_errors(database_url, now=REPLAYED)

    assert tallies(report) == {"missing_field": (1, 0, 0, {"schema_mismatch": 1})}
    row = error_row(db, error_id)
    assert row["last_replay_reason"] == "schema_mismatch"
    assert row["last_replay_detail"].startswith("the payload is not valid JSON")


# --- which rows -------------------------------------------------------------------------------------


def test_reason_replays_only_rows_refused_for_it(clean_raw, database_url):
    db = clean_raw
    stale_event = move(timestamp=iso(ARRIVED - timedelta(hours=1)))
    stale_id = refuse(db, {**stale_event, "timestamp": iso(ARRIVED - timedelta(hours=30))})
    missing_event = move()
    missing_id = refuse(db, without(missing_event, "move_type"))
    fix(db, stale_id, stale_event)
    fix(db, missing_id, missing_event)

    only_stale = replay_errors(database_url, reason="stale", now=REPLAYED)

    assert tallies(only_stale) == {"stale": (1, 1, 0, {})}
    assert stored(db, stale_event["event_id"]) is not None and stored(db, missing_event["event_id"]) is None
    untouched = error_row(db, missing_id)
    assert untouched["replayed_at"] is None and untouched["last_replay_at"] is None
    assert tallies(replay_errors(database_url, now=REPLAYED)) == {"missing_field": (1, 1, 0, {})}


def test_duplicate_conflict_rows_are_never_replayed(client, auth, db, database_url):
    event = game_start()
    client.post("/api/events", json=event, headers=auth)
    assert client.post("/api/events", json={**event, "game_type": "go"}, headers=auth).get_json()["conflict"]
    [(error_id,)] = db.execute("SELECT error_id FROM raw.ingest_errors WHERE reason = 'duplicate_conflict'")
    db.execute("TRUNCATE raw.events, raw.event_ids")  # so replaying it would land it

    report = replay_errors(database_url, now=REPLAYED)

    assert tallies(report) == {} and count(db, "raw.events") == 0
    assert error_row(db, error_id)["replayed_at"] is None and error_row(db, error_id)["last_replay_at"] is None
    with pytest.raises(UnknownReason, match="duplicate_conflict rows are never replayed"):
        replay_errors(database_url, reason="duplicate_conflict")


def test_an_unknown_reason_is_refused_naming_the_reasons(clean_raw, database_url):
    with pytest.raises(UnknownReason) as refused:
        replay_errors(database_url, reason="misssing_field")
    assert str(refused.value) == ("unknown reason 'misssing_field'; the reasons are: future, missing_field, "
                                  "schema_mismatch, stale, too_large")


def test_a_reason_another_writer_records_is_replayable(clean_raw, database_url):
    db = clean_raw
    event = move()
    db.execute("INSERT INTO raw.ingest_errors (received_at, event_id, event_type, reason, detail, payload, source)"
               " VALUES (%s, %s, 'move', 'out_of_range', 'a rule failed', %s, 'quality')",
               (ARRIVED, event["event_id"], orjson.dumps(event).decode()))

    assert tallies(replay_errors(database_url, reason="out_of_range", now=REPLAYED)) == {
        "out_of_range": (1, 1, 0, {})}


def test_a_chunk_holds_at_most_its_rows_and_its_bytes_but_at_least_one_row(clean_raw):
    db = clean_raw
    ids = [refuse(db, move(data={"blob": "x" * 40_000})) for _ in range(5)]
    ids += [refuse(db, without(move(), "move_type")) for _ in range(3)]
    big = len(orjson.dumps(move(data={"blob": "x" * 40_000})))

    def chunks(reason, rows, max_bytes=replay.CHUNK_BYTES):
        return [[e.error_id for e in chunk] for chunk in pending_chunks(db, reason, rows, max_bytes)]

    assert chunks(None, 4, 2 * big) == [ids[0:2], ids[2:4], ids[4:8]]
    assert chunks(None, 4, 1) == [[error_id] for error_id in ids]
    assert chunks("missing_field", 2) == [ids[5:7], ids[7:8]]


# --- exactly once -----------------------------------------------------------------------------------


def test_an_event_already_stored_is_counted_once_and_a_changed_one_records_the_conflict(client, auth, db,
                                                                                       database_url):
    same, changed = game_start(), game_start()
    for event in (same, changed):
        assert client.post("/api/events", json=event, headers=auth).status_code == 200
    twice = move()
    rows = [refuse(db, without(event, "game_id")) for event in (same, changed, twice, twice)]
    for error_id, event in zip(rows, [same, {**changed, "game_type": "go"}, twice, twice], strict=True):
        fix(db, error_id, event)

    report = replay_errors(database_url, now=REPLAYED)

    assert tallies(report) == {"missing_field": (4, 1, 3, {})}
    assert [error_row(db, i)["replay_outcome"] for i in rows] == ["duplicate", "duplicate", "landed", "duplicate"]
    assert count(db, "raw.events") == 3
    assert stored(db, changed["event_id"])["payload"] == changed  # the first copy is kept
    conflicts = db.execute("SELECT event_id, source, received_at FROM raw.ingest_errors"
                           " WHERE reason = 'duplicate_conflict'").fetchall()
    assert conflicts == [(changed["event_id"], "replay", REPLAYED)]


def test_a_dry_run_writes_nothing_and_reports_what_the_replay_then_does(clean_raw, database_url):
    db = clean_raw
    arrived = datetime(2026, 2, 2, 12, tzinfo=UTC)  # a day with no partition yet: a dry run must not make one
    stored_event, twice, fixed, late = move(), move(), move(), move(timestamp=iso(arrived - timedelta(hours=13)))
    admitted = admit(stored_event, arrived)
    land(db, [LandingJob([admitted], [], Provenance())])
    rows = [refuse(db, without(event, "move_type"), arrived) for event in (stored_event, twice, fixed, late, twice)]
    unfixed = refuse(db, without(move(), "game_id"), arrived)
    for error_id, event in zip(rows, [stored_event, twice, fixed, late, twice], strict=True):
        fix(db, error_id, event)

    def snapshot():
        return [db.execute(query).fetchall() for query in (
            "SELECT * FROM raw.ingest_errors ORDER BY error_id",
            "SELECT * FROM raw.events ORDER BY event_id",
            "SELECT * FROM raw.event_ids ORDER BY event_id",
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'raw.events'::regclass ORDER BY 1",
        )]

    before = snapshot()
    dry = replay_errors(database_url, dry_run=True, now=REPLAYED, chunk_rows=2)  # twice's copies in two chunks
    assert snapshot() == before

    real = replay_errors(database_url, now=REPLAYED, chunk_rows=2)
    assert tallies(dry) == tallies(real) == {"missing_field": (6, 3, 2, {"missing_field": 1})}
    assert dry.days == real.days == {date(2026, 2, 1), date(2026, 2, 2)}
    assert (dry.dry_run, real.dry_run) == (True, False)
    assert count(db, "raw.events") == 4 and error_row(db, unfixed)["last_replay_reason"] == "missing_field"


def test_concurrent_replays_land_each_event_exactly_once_and_count_it_once(clean_raw, database_url):
    db = clean_raw
    events = [move() for _ in range(12)]
    for event in events:
        fix(db, refuse(db, without(event, "move_type")), event)
    start = threading.Barrier(4)

    def replay_when_all_are_ready(_):
        start.wait(timeout=30)
        return replay_errors(database_url, chunk_rows=3)

    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(replay_when_all_are_ready, range(4)))

    assert count(db, "raw.events") == 12 and count(db, "raw.event_ids") == 12
    assert sum(r.total.landed for r in reports) == 12
    assert sum(r.total.examined for r in reports) == 12  # the lock: no replay saw rows another was landing
    assert db.execute("SELECT replay_outcome, count(*) FROM raw.ingest_errors GROUP BY 1").fetchall() == [
        ("landed", 12)]


# --- quarantined events and agent runs --------------------------------------------------------------


def test_a_quarantined_event_replays_like_a_door_refusal(client, auth, db, database_url):
    now = datetime.now(UTC).replace(microsecond=0)
    event = move(timestamp=iso(now - timedelta(hours=2, minutes=3)), sent_at=iso(now - timedelta(hours=2)))
    assert client.post("/api/events", json=event, headers=auth).get_json()["status"] == "accepted"
    landed = stored(db, event["event_id"])
    error_id = quarantine(db, event["event_id"], "move")
    assert stored(db, event["event_id"]) is None

    report = replay_errors(database_url, reason="schema_mismatch", now=REPLAYED)

    assert tallies(report) == {"schema_mismatch": (1, 1, 0, {})}
    again = stored(db, event["event_id"])
    assert again == landed | {"received_at": REPLAYED, "ledger_received_at": REPLAYED}
    assert error_row(db, error_id)["replay_outcome"] == "landed"


def test_a_refused_agent_run_replays_through_the_agent_run_contract(client, auth, db, database_url):
    run = agent_run(run_id=4711)
    response = client.post("/api/agent-runs", json=without(run, "agent_name"), headers=auth)
    assert response.status_code == 422 and response.get_json()["field"] == "agent_name"
    [(error_id, event_type)] = db.execute("SELECT error_id, event_type FROM raw.ingest_errors").fetchall()
    assert event_type == "agent_run"
    fix(db, error_id, run)

    assert tallies(replay_errors(database_url, now=REPLAYED)) == {"missing_field": (1, 1, 0, {})}
    row = stored(db, "agent_run:4711")
    assert (row["type"], row["source"], row["payload"]) == ("agent_run", "ci", {**run, "run_id": "4711"})
    assert row["received_at"] == REPLAYED


def test_a_quarantined_agent_run_is_known_by_its_shape(client, auth, db, database_url):
    run = agent_run()
    assert client.post("/api/agent-runs", json=run, headers=auth).status_code == 200
    event_id = f"agent_run:{run['run_id']}"
    landed = stored(db, event_id)
    quarantine(db, event_id, None)  # its stored payload holds no type

    assert tallies(replay_errors(database_url, now=REPLAYED)) == {"schema_mismatch": (1, 1, 0, {})}
    assert stored(db, event_id) == landed | {"received_at": REPLAYED, "ledger_received_at": REPLAYED}


def test_a_replay_never_admits_what_only_the_platform_may_record(clean_raw, database_url):
    db = clean_raw
    error_id = refuse(db, {"event_id": "fake-start", "type": "server_start", "event_data": {"version": "6.6.6"}})
    assert error_row(db, error_id)["reason"] == "schema_mismatch"

    assert tallies(replay_errors(database_url, now=REPLAYED)) == {"schema_mismatch": (1, 0, 0, {"schema_mismatch": 1})}
    assert count(db, "raw.events") == 0


# --- the command ------------------------------------------------------------------------------------


def run_cli(tmp_path, database_url: str, *args: str) -> subprocess.CompletedProcess:
    return run_monkeytown(monkeytown_env(tmp_path, database_url), "errors", "replay", *args)


def test_the_command_reports_each_reason_a_total_and_the_rollup_days_to_rebuild(clean_raw, database_url,
                                                                                 tmp_path):
    db = clean_raw
    arrived = datetime.now(UTC) - timedelta(hours=1)
    fixed, mismatched = move(timestamp=iso(arrived - timedelta(hours=20))), move()
    fix(db, refuse(db, without(fixed, "move_type"), arrived), fixed)
    refuse(db, without(move(), "move_type"), arrived)
    fix(db, refuse(db, {**mismatched, "data": []}, arrived), mismatched)
    day, today = (arrived - timedelta(hours=20)).date(), arrived.date()
    days = ", ".join(sorted({str(day), str(today)}))
    window = f"{{min_date: {day}, max_date: {today + timedelta(days=1)}}}"

    dry = run_cli(tmp_path, database_url, "--dry-run")

    assert (dry.returncode, dry.stderr) == (0, "")
    assert dry.stdout.splitlines() == [
        "missing_field: 2 examined, 1 would land, 0 already stored, 1 still refused (missing_field 1)",
        "schema_mismatch: 1 examined, 1 would land, 0 already stored, 0 still refused",
        "total: 3 examined, 2 would land, 0 already stored, 1 still refused (missing_field 1)",
        f"rollups would change for {days} (UTC): rebuild them with monkeytown dbt build --select tag:rollup"
        f" --vars '{window}', or a Dagster backfill of refresh_rollups over those days",
    ]
    assert count(db, "raw.events") == 0

    real = run_cli(tmp_path, database_url)

    assert real.returncode == 0  # one still refused is an answer, not a failure
    assert real.stdout.splitlines() == [line.replace("would land", "landed").replace("would change", "change")
                                        for line in dry.stdout.splitlines()]
    assert count(db, "raw.events") == 2

    again = run_cli(tmp_path, database_url, "--reason", "missing_field")
    assert (again.returncode, again.stdout.splitlines()) == (0, [
        "missing_field: 1 examined, 0 landed, 0 already stored, 1 still refused (missing_field 1)",
        "total: 1 examined, 0 landed, 0 already stored, 1 still refused (missing_field 1)",
    ])


@pytest.mark.parametrize(("reason", "message"), [
    ("bogus", "unknown reason 'bogus'; the reasons are: "),
    ("duplicate_conflict", "duplicate_conflict rows are never replayed (the first copy is stored); the reasons are: "),
])
def test_the_command_exits_2_on_a_reason_it_does_not_replay(clean_raw, database_url, tmp_path, reason, message):
    result = run_cli(tmp_path, database_url, "--reason", reason)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"monkeytown: error: {message}future, missing_field, schema_mismatch, stale, too_large"]
