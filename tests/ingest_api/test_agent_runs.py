"""POST /api/agent-runs end to end against a real PostgreSQL: one run per request, landed as an agent_run event
(source ci) through the same door, write path and error table as POST /api/events."""

from __future__ import annotations

import functools
import gzip
import socket
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from ingest_api.app import create_app
from ingest_api.body import MAX_BODY_BYTES
from tests.conftest import WRITE_KEY
from tests.ingest_api.factories import agent_run, game_start
from tests.ingest_api.http import count
from tests.ingest_api.http import post as post_json
from tests.ingest_api.test_events import assert_json_error, assert_nothing_stored

RUNS = "/api/agent-runs"


post = functools.partial(post_json, path=RUNS)


def stored(db, event_id):
    return db.execute(
        "SELECT type, source, contract_version, occurred_at, client_timestamp, sent_at, received_at, session_id,"
        " player_id, is_anonymous, game_id, payload FROM raw.events WHERE event_id = %s",
        (event_id,),
    ).fetchall()


def errors(db):
    return db.execute(
        "SELECT reason, field, event_id, event_type, payload, key_name FROM raw.ingest_errors ORDER BY error_id"
    ).fetchall()








def rfc3339(moment: datetime, hours: int = 0) -> str:
    return moment.astimezone(timezone(timedelta(hours=hours))).isoformat(timespec="milliseconds")


def recent(minutes: float) -> datetime:
    """A moment `minutes` ago, to the millisecond (what RFC 3339 with milliseconds can carry)."""
    moment = datetime.now(UTC) - timedelta(minutes=minutes)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# --- accepted, duplicate, conflict -----------------------------------------------------------------


def test_a_run_lands_as_an_agent_run_event_from_ci_with_finished_at_as_occurred_at(client, auth, db):
    started, finished = recent(12), recent(2)
    run = agent_run(run_id="ci-4711.2", agent_name="AlphaOrchestrator", files_created=4, files_modified=11,
                    status="failed", started_at=rfc3339(started, -5), finished_at=rfc3339(finished, 2),
                    duration_seconds=600.5, data={"branch": "main", "commit": "abc123"})
    response = post(client, run, auth)
    assert response.status_code == 200
    assert response.get_json() == {"status": "accepted", "run_id": "ci-4711.2", "event_id": "agent_run:ci-4711.2"}
    [row] = stored(db, "agent_run:ci-4711.2")
    (type_, source, version, occurred_at, client_ts, sent_at, received_at, session_id, player_id, anonymous,
     game_id, payload) = row
    assert (type_, source, version) == ("agent_run", "ci", 2)
    assert occurred_at == finished and client_ts == finished  # "+02:00" as sent, the same instant in UTC
    assert db.execute("SELECT occurred_at AT TIME ZONE 'UTC' FROM raw.events").fetchone()[0] == (
        finished.replace(tzinfo=None))
    assert sent_at is None and finished < received_at < datetime.now(UTC)
    assert (session_id, player_id, anonymous, game_id) == (None, None, False, None)
    assert payload == run
    assert count(db, "raw.ingest_errors") == 0


def test_an_integer_run_id_is_stored_as_its_decimal_string(client, auth, db):
    response = post(client, agent_run(run_id=9_007_199_254_740_993), auth)
    assert response.get_json() == {"status": "accepted", "run_id": "9007199254740993",
                                   "event_id": "agent_run:9007199254740993"}
    [(*_, payload)] = stored(db, "agent_run:9007199254740993")
    assert payload["run_id"] == "9007199254740993"


def test_an_integer_run_id_and_its_decimal_string_are_the_same_run(client, auth, db):
    run = agent_run(run_id=42)
    assert post(client, run, auth).get_json()["status"] == "accepted"
    again = post(client, {**run, "run_id": "42"}, auth).get_json()
    assert again == {"status": "duplicate", "run_id": "42", "event_id": "agent_run:42"}
    assert count(db, "raw.events") == 1 and count(db, "raw.ingest_errors") == 0


def test_without_finished_at_the_run_occurred_when_received(client, auth, db):
    before = datetime.now(UTC)
    event_id = post(client, agent_run(), auth).get_json()["event_id"]
    [(_, _, _, occurred_at, client_ts, _, received_at, *_)] = stored(db, event_id)
    assert occurred_at == received_at and client_ts is None
    assert before <= received_at <= datetime.now(UTC)


def test_epoch_milliseconds_are_accepted_also_written_as_a_whole_float(client, auth, db):
    finished = recent(4)
    millis = finished.timestamp() * 1000  # 1.7e12 with no fraction: an integer to JSON Schema
    body = post(client, agent_run(started_at=int(millis) - 60_000, finished_at=millis), auth).get_json()
    [(_, _, _, occurred_at, *_)] = stored(db, body["event_id"])
    assert occurred_at == finished


def test_completed_is_accepted_as_a_status(client, auth, db):
    assert post(client, agent_run(status="completed"), auth).get_json()["status"] == "accepted"


def test_the_same_run_twice_is_one_row_and_a_duplicate(client, auth, db):
    run = agent_run(finished_at=rfc3339(recent(1)))
    first, second = post(client, run, auth), post(client, run, auth)
    assert first.get_json()["status"] == "accepted"
    assert second.status_code == 200
    event_id = f"agent_run:{run['run_id']}"
    assert second.get_json() == {"status": "duplicate", "run_id": run["run_id"], "event_id": event_id}
    assert count(db, "raw.events") == 1
    assert count(db, "raw.ingest_errors") == 0


def test_a_retry_with_a_new_sent_at_is_no_conflict(client, auth, db):
    run = agent_run(finished_at=rfc3339(recent(3)))
    post(client, {**run, "sent_at": rfc3339(recent(0.1))}, auth)
    retry = post(client, {**run, "sent_at": rfc3339(recent(0))}, auth).get_json()
    assert retry["status"] == "duplicate" and "conflict" not in retry
    assert count(db, "raw.ingest_errors") == 0


def test_same_run_id_different_payload_keeps_the_first_and_records_the_conflict(client, auth, db):
    run = agent_run(files_created=3)
    post(client, run, auth)
    changed = {**run, "files_created": 30}
    body = post(client, changed, auth).get_json()
    assert (body["status"], body["conflict"], body["run_id"]) == ("duplicate", True, run["run_id"])
    [(*_, payload)] = stored(db, f"agent_run:{run['run_id']}")
    assert payload["files_created"] == 3
    [(reason, field, event_id, event_type, conflict_payload, key)] = errors(db)
    assert (reason, field, event_id, event_type) == ("duplicate_conflict", "event_id", f"agent_run:{run['run_id']}",
                                                     "agent_run")
    assert orjson.loads(conflict_payload) == changed and key == "tests"


def test_server_owned_fields_are_ignored(client, auth, db):
    run = agent_run(received_at="2001-01-01T00:00:00Z", source="github")
    body = post(client, run, auth).get_json()
    assert body["status"] == "accepted" and body["ignored_fields"] == ["received_at", "source"]
    [(_, source, *_, payload)] = stored(db, body["event_id"])
    assert source == "ci" and {"received_at", "source"}.isdisjoint(payload)


def test_a_gzip_body_is_accepted(client, auth, db):
    run = agent_run()
    response = post(client, gzip.compress(orjson.dumps(run)), auth, **{"Content-Encoding": "gzip"})
    assert response.get_json()["status"] == "accepted"
    assert count(db, "raw.events") == 1


# --- refusals: 422 naming the reason and field, recorded in raw.ingest_errors -------------------------


def assert_refused_and_recorded(response, db, sent, reason, field):
    body = assert_json_error(response, 422, reason)
    assert (body["status"], body["reason"], body["field"]) == ("rejected", reason, field)
    [(err_reason, err_field, event_id, event_type, payload, key)] = errors(db)
    assert (err_reason, err_field, event_type, key) == (reason, field, "agent_run", "tests")
    assert orjson.loads(payload) == sent
    assert count(db, "raw.events") == 0
    return body, event_id


@pytest.mark.parametrize("missing", ["run_id", "agent_name", "files_created", "files_modified", "status"])
def test_each_missing_required_field_is_named(client, auth, db, missing):
    run = agent_run(run_id="r-1")
    del run[missing]
    body, event_id = assert_refused_and_recorded(post(client, run, auth), db, run, "missing_field", missing)
    assert f"'{missing}'" in body["message"]
    if missing == "run_id":
        assert event_id is None and "event_id" not in body
    else:
        assert (event_id, body["run_id"], body["event_id"]) == ("agent_run:r-1", "r-1", "agent_run:r-1")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"run_id": "has spaces"}, "run_id"),
        ({"run_id": "x" * 65}, "run_id"),
        ({"run_id": ""}, "run_id"),
        ({"run_id": -1}, "run_id"),
        ({"run_id": 1.5}, "run_id"),
        ({"run_id": True}, "run_id"),
        ({"run_id": None}, "run_id"),
        ({"agent_name": ""}, "agent_name"),
        ({"agent_name": 7}, "agent_name"),
        ({"agent_name": "x" * 129}, "agent_name"),
        ({"files_created": "3"}, "files_created"),
        ({"files_created": -1}, "files_created"),
        ({"files_modified": 2.5}, "files_modified"),
        ({"files_modified": 2**31}, "files_modified"),  # beyond the integer column the mart casts it to
        ({"files_modified": None}, "files_modified"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"finished_at": 1.5}, "finished_at"),
        ({"finished_at": "2026-02-30T10:00:00Z"}, "finished_at"),
        ({"sent_at": "now"}, "sent_at"),
        ({"duration_seconds": -2}, "duration_seconds"),
        ({"duration_seconds": "long"}, "duration_seconds"),
        ({"data": [1, 2]}, "data"),
        ({"branch": "main"}, "branch"),
        ({"type": "agent_run"}, "type"),  # the endpoint picks the contract; the body does not name it
        ({"timestamp": "2026-01-18T12:00:00Z"}, "timestamp"),  # finished_at is the run's time
    ],
)
def test_wrong_types_and_unknown_fields_are_a_schema_mismatch_naming_the_field(client, auth, db, overrides, field):
    run = agent_run(**overrides)
    body, _ = assert_refused_and_recorded(post(client, run, auth), db, run, "schema_mismatch", field)
    assert field in body["message"]


@pytest.mark.parametrize("status", ["done", "SUCCEEDED", "", 1, None])
def test_a_status_outside_the_contract_is_a_schema_mismatch(client, auth, db, status):
    run = agent_run(status=status)
    body, _ = assert_refused_and_recorded(post(client, run, auth), db, run, "schema_mismatch", "status")
    assert "succeeded" in body["message"]


def test_a_run_that_finished_more_than_24_h_ago_is_stale(client, auth, db):
    run = agent_run(run_id="old-1", finished_at=rfc3339(recent(25 * 60)))
    body, event_id = assert_refused_and_recorded(post(client, run, auth), db, run, "stale", "finished_at")
    assert body["warnings"] == ["stale"] and event_id == "agent_run:old-1"


def test_a_run_that_finishes_more_than_1_h_in_the_future_is_refused(client, auth, db):
    run = agent_run(finished_at=rfc3339(recent(-120)))
    assert_refused_and_recorded(post(client, run, auth), db, run, "future", "finished_at")


def test_a_correction_past_the_calendar_is_refused_as_future_not_a_500(client, auth, db):
    run = agent_run(finished_at=251606370896940, sent_at=5)  # year 9943, sent "in 1970"
    assert_refused_and_recorded(post(client, run, auth), db, run, "future", "finished_at")


def test_a_ci_clock_hours_off_is_corrected_with_sent_at(client, auth, db):
    skew = timedelta(hours=-30)  # without sent_at this run would be stale
    ci_now = datetime.now(UTC) + skew
    run = agent_run(finished_at=rfc3339(ci_now - timedelta(seconds=40)), sent_at=rfc3339(ci_now))
    event_id = post(client, run, auth).get_json()["event_id"]
    [(_, _, _, occurred_at, client_ts, sent_at, received_at, *_)] = stored(db, event_id)
    assert abs(client_ts - (ci_now - timedelta(seconds=40))) < timedelta(milliseconds=1)
    assert abs(sent_at - ci_now) < timedelta(milliseconds=1)
    assert abs((received_at - occurred_at) - timedelta(seconds=40)) < timedelta(seconds=2)


def test_a_run_over_32_kib_is_too_large(client, auth, db):
    run = agent_run(run_id="big", data={"log": "x" * (33 * 1024)})
    body = assert_json_error(post(client, run, auth), 422, "too_large")
    assert body["run_id"] == "big"
    assert [(r[0], r[2]) for r in errors(db)] == [("too_large", "agent_run:big")]


# --- each endpoint takes only its own contracts ----------------------------------------------------


def test_an_agent_run_is_an_unknown_type_at_the_events_endpoint(client, auth, db):
    event = {"event_id": "ar-1", "type": "agent_run", **agent_run()}
    body = assert_json_error(post(client, event, auth, path="/api/events"), 422, "schema_mismatch")
    assert body["field"] == "type" and "agent_run" in body["message"]
    [(reason, field, event_id, *_)] = errors(db)
    assert (reason, field, event_id) == ("schema_mismatch", "type", "ar-1")
    assert count(db, "raw.events") == 0


def test_a_game_event_is_refused_at_the_agent_runs_endpoint(client, auth, db):
    body = assert_json_error(post(client, game_start(), auth), 422, "missing_field")
    assert body["field"] == "run_id"
    assert count(db, "raw.events") == 0 and count(db, "raw.ingest_errors") == 1


# --- the request around the door: same as POST /api/events -------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dGVzdA==", f"Bearer {WRITE_KEY}x", "Bearer wrong-key"])
def test_a_bad_or_missing_write_key_is_401_and_nothing_stored(client, db, header):
    response = post(client, agent_run(), {"Authorization": header} if header is not None else {})
    assert_json_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_nothing_stored(db)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_wrong_content_type_is_415(client, auth, db, content_type):
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    assert_json_error(client.post(RUNS, data=orjson.dumps(agent_run()), headers=headers), 415)
    assert_nothing_stored(db)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"run_id": "r1", "agent_name": ', "malformed_json"),
        (b'{"run_id": "r1", "files_created": NaN}', "malformed_json"),
        (b"", "empty_body"),
    ],
)
def test_malformed_json_and_an_empty_body_are_400(client, auth, db, body, code):
    assert_json_error(post(client, body, auth), 400, code)
    assert_nothing_stored(db)


@pytest.mark.parametrize("body", [b"[]", b'[{"run_id": "a"}]', b'"a string"', b"42", b"null"])
def test_a_body_that_is_not_one_json_object_is_400(client, auth, db, body):
    response = assert_json_error(post(client, body, auth), 400, "not_an_object")
    assert "one agent run per request" in response["message"]
    if body.startswith(b"["):
        assert "arrays" in response["message"]
    assert_nothing_stored(db)


def test_a_body_over_the_limit_is_413(client, auth, db):
    assert_json_error(post(client, b"x" * (MAX_BODY_BYTES + 1), auth), 413)
    assert_nothing_stored(db)


def test_over_the_rate_limit_the_endpoint_answers_429_with_retry_after(database_url, clean_raw):
    app = create_app({"DATABASE_URL": database_url, "WRITE_KEYS": {"ci": "key-ci"}, "RATE_LIMIT": "1/year"})
    try:
        client = app.test_client()
        auth = {"Authorization": "Bearer key-ci"}
        assert post(client, agent_run(), auth).status_code == 200
        refused = post(client, agent_run(), auth)
        assert_json_error(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert count(clean_raw, "raw.events") == 1
    finally:
        app.extensions["monkeytown.ingest"].pool.close()


def test_an_unreachable_database_gives_503_with_retry_after():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app = create_app({"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed_port}/nothing",
                      "WRITE_KEYS": {"ci": "key-ci"}})
    try:
        response = post(app.test_client(), agent_run(), {"Authorization": "Bearer key-ci"})
        assert_json_error(response, 503, "database_unavailable")
        assert int(response.headers["Retry-After"]) > 0
    finally:
        app.extensions["monkeytown.ingest"].pool.close(timeout=0)


def test_each_request_logs_one_line_naming_the_key_not_the_key_itself(client, auth, caplog):
    caplog.set_level("INFO", logger="monkeytown.request")
    post(client, agent_run(), auth, **{"X-Request-ID": "ci-trace-1"})
    [line] = [r.getMessage() for r in caplog.records if r.name == "monkeytown.request"]
    assert "request_id=ci-trace-1" in line and f"path={RUNS}" in line
    assert "key=tests status=200 events=1" in line
    assert WRITE_KEY not in caplog.text


# --- declared once: /api/contracts and /openapi.json -------------------------------------------------


def test_the_agent_run_contract_is_served_with_its_endpoint(client):
    contract = client.get("/api/contracts").get_json()["contracts"]["agent_run"]
    assert contract["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (contract["x-version"], contract["x-source"], contract["x-endpoint"]) == (2, "ci", RUNS)
    assert contract["required"] == ["run_id", "agent_name", "files_created", "files_modified", "status"]
    assert contract["properties"]["status"]["enum"] == ["succeeded", "failed", "cancelled", "completed"]
    assert {"started_at", "finished_at", "duration_seconds", "repository", "run_url", "run_attempt", "data",
            "sent_at"} <= set(contract["properties"])
    assert {"event_id", "type", "timestamp"}.isdisjoint(contract["properties"])


def test_openapi_describes_the_agent_runs_path_with_the_contract(client):
    doc = client.get("/openapi.json").get_json()
    post_runs = doc["paths"][RUNS]["post"]
    body_schema = post_runs["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/agent_run"}
    assert doc["components"]["schemas"]["agent_run"]["required"][0] == "run_id"
    assert {"200", "400", "401", "413", "415", "422", "429", "503"} <= set(post_runs["responses"])
    assert post_runs["security"] == [{"writeKey": []}]
    event_types = [ref["$ref"] for ref in doc["components"]["schemas"]["Event"]["oneOf"]]
    assert "#/components/schemas/agent_run" not in event_types  # not an /api/events body


def test_a_game_client_cannot_take_an_agent_runs_id(client, auth, db):
    squatter = game_start(event_id="agent_run:42")
    assert_json_error(post(client, squatter, auth, path="/api/events"), 422)
    assert post(client, agent_run(run_id=42), auth).get_json()["status"] == "accepted"
    assert [row[0] for row in stored(db, "agent_run:42")] == ["agent_run"]


def test_integers_sent_as_3_0_or_1e1_are_stored_as_json_integers(client, auth, db):
    body = b'{"run_id": "ci-floats", "agent_name": "BetaBuilder", "files_created": 3.0, "files_modified": 1e1, ' \
           b'"status": "succeeded"}'
    response = client.post("/api/agent-runs", data=body, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 200
    stored_as = db.execute("SELECT payload ->> 'files_created', payload ->> 'files_modified', "
                           "(payload ->> 'files_created')::integer FROM raw.events "
                           "WHERE event_id = 'agent_run:ci-floats'").fetchone()
    assert stored_as == ("3", "10", 3)  # as sent, 3.0 would read '3.0', which ::integer refuses
