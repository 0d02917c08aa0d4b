"""POST /api/events end to end against a real PostgreSQL: the contract's door rules and QUALITY.md rows 1-15."""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest_api.body import MAX_BODY_BYTES
from tests.conftest import WRITE_KEY
from tests.ingest_api.factories import game_end, game_start, move
from tests.ingest_api.http import count, post


def stored(db, event_id):
    return db.execute(
        "SELECT type, occurred_at, client_timestamp, sent_at, received_at, session_id, player_id, is_anonymous, payload"
        " FROM raw.events WHERE event_id = %s",
        (event_id,),
    ).fetchall()


def errors(db):
    return db.execute(
        "SELECT reason, field, event_id, payload, key_name FROM raw.ingest_errors ORDER BY error_id"
    ).fetchall()


def assert_json_error(response, status, code=None):
    assert response.status_code == status
    body = response.get_json()
    assert isinstance(body["message"], str) and body["message"]
    if code:
        assert body["error"] == code
    return body


def assert_nothing_stored(db):
    assert count(db, "raw.events") == 0
    assert count(db, "raw.ingest_errors") == 0


# --- the happy paths -------------------------------------------------------------------------------


def test_a_single_event_is_committed_before_the_200(client, auth, db):
    event = game_start()
    response = post(client, event, auth)
    assert response.status_code == 200
    assert response.get_json() == {"status": "accepted", "event_id": event["event_id"]}
    # read through another connection: the row is already committed
    [(type_, *_rest, payload)] = stored(db, event["event_id"])
    assert type_ == "game_start" and payload == event


def test_a_batch_answers_counts_and_one_result_per_event_in_order(client, auth, db):
    good, bad, dup = move(), game_end(duration=None), move()
    del bad["duration"]
    post(client, dup, auth)
    response = post(client, [good, bad, dup, game_start(session_id="")], auth)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 1)
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "duplicate", "accepted"]
    assert body["results"][1]["reason"] == "missing_field" and body["results"][1]["field"] == "duration"
    assert body["results"][3]["warnings"] == ["anonymous_player"]
    assert count(db, "raw.events") == 3


def test_gzip_bodies_are_accepted(client, auth, db):
    events = [move() for _ in range(3)]
    response = post(client, gzip.compress(orjson.dumps(events)), auth, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200 and response.get_json()["accepted"] == 3


def test_a_gzip_body_over_the_limit_once_decompressed_is_413(client, auth, db):
    bomb = gzip.compress(b"[" + b" " * (MAX_BODY_BYTES + 10) + b"]")
    assert len(bomb) < 20_000
    assert_json_error(post(client, bomb, auth, **{"Content-Encoding": "gzip"}), 413)
    assert_nothing_stored(db)


def test_invalid_gzip_is_400_and_other_encodings_415(client, auth, db):
    assert_json_error(post(client, b"not gzip", auth, **{"Content-Encoding": "gzip"}), 400)
    assert_json_error(post(client, orjson.dumps(move()), auth, **{"Content-Encoding": "br"}), 415)
    assert_nothing_stored(db)


# --- QUALITY.md rows 1-15 --------------------------------------------------------------------------


def test_row1_malformed_json_is_400_and_nothing_is_stored(client, auth, db):
    assert_json_error(post(client, b'{"event_id": "a", "type": ', auth), 400, "malformed_json")
    assert_nothing_stored(db)


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_row2_an_empty_body_is_400(client, auth, db, body):
    assert_json_error(post(client, body, auth), 400, "empty_body")
    assert_json_error(post(client, b"[]", auth), 400, "empty_batch")
    assert_nothing_stored(db)


def padded_batch(total_bytes: int) -> bytes:
    """A valid batch of 1000 moves whose JSON is exactly `total_bytes` long."""
    events = [move(event_id=f"pad-{i:04d}", data={"p": ""}) for i in range(1000)]
    base = len(orjson.dumps(events))
    per_event, extra = divmod(total_bytes - base, 1000)
    for i, event in enumerate(events):
        event["data"]["p"] = "x" * (per_event + (1 if i < extra else 0))
    body = orjson.dumps(events)
    assert len(body) == total_bytes
    return body


def test_row3_a_body_at_the_limit_is_accepted_and_one_byte_over_is_413(client, auth, db):
    over = post(client, padded_batch(MAX_BODY_BYTES + 1), auth)
    assert_json_error(over, 413)
    assert_nothing_stored(db)
    at_limit = post(client, padded_batch(MAX_BODY_BYTES), auth)
    assert at_limit.status_code == 200 and at_limit.get_json()["accepted"] == 1000


@pytest.mark.parametrize("path", ["/healthz", "/api/contracts", "/api/events", "/no-such-route"])
def test_row3_any_route_refuses_a_body_over_the_limit(client, auth, path):
    response = client.post(path, data=b"x" * (MAX_BODY_BYTES + 1), headers={"Content-Type": "application/json", **auth})
    assert_json_error(response, 413)


def test_row4_a_batch_over_1000_events_is_refused_whole(client, auth, db):
    response = post(client, [move() for _ in range(1001)], auth)
    body = assert_json_error(response, 413, "batch_too_large")
    assert "1000" in body["message"]
    assert_nothing_stored(db)


def test_row5_one_event_over_32_kib_is_rejected_by_index_and_the_rest_accepted(client, auth, db):
    big = move(data={"blob": "x" * (33 * 1024)})
    events = [move(), big, move()]
    body = post(client, events, auth).get_json()
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    assert body["results"][1] == {
        "index": 1, "status": "rejected", "reason": "too_large", "event_id": big["event_id"],
        "message": body["results"][1]["message"],
    }
    assert [(r[0], r[2]) for r in errors(db)] == [("too_large", big["event_id"])]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_row6_a_wrong_content_type_is_415(client, auth, db, content_type):
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    response = client.post("/api/events", data=orjson.dumps(move()), headers=headers)
    assert_json_error(response, 415)
    assert_nothing_stored(db)


@pytest.mark.parametrize(
    ("event", "reason", "field"),
    [
        ({"event_id": "m1", "type": "game_start", "game_type": "chess", "session_id": "s"}, "missing_field", "game_id"),
        ({"event_id": "m2", "type": "game_end", "game_id": "g", "duration": "ten"}, "schema_mismatch", "duration"),
        ({"event_id": "m3", "type": "level_up", "game_id": "g"}, "schema_mismatch", "type"),
    ],
)
def test_row7_refused_events_are_422_naming_the_field_and_recorded(client, auth, db, event, reason, field):
    response = post(client, event, auth)
    body = assert_json_error(response, 422, reason)
    assert (body["reason"], body["field"], body["event_id"]) == (reason, field, event["event_id"])
    assert field in body["message"]
    [(err_reason, err_field, err_id, payload, key)] = errors(db)
    assert (err_reason, err_field, err_id) == (reason, field, event["event_id"])
    assert orjson.loads(payload) == event
    assert key == "tests"
    assert count(db, "raw.events") == 0


def test_row7_in_a_batch_each_refusal_is_per_event_and_recorded(client, auth, db):
    events = [{"event_id": "b1", "type": "move", "game_id": "g"}, move(), {"event_id": "b3", "type": "??"}]
    body = post(client, events, auth).get_json()
    assert [(r["status"], r.get("reason"), r.get("field")) for r in body["results"]] == [
        ("rejected", "missing_field", "move_type"), ("accepted", None, None), ("rejected", "schema_mismatch", "type")
    ]
    assert [(r[0], r[1], r[2]) for r in errors(db)] == [
        ("missing_field", "move_type", "b1"), ("schema_mismatch", "type", "b3")
    ]


def test_row8_server_owned_fields_from_the_client_are_ignored(client, auth, db):
    event = move(received_at="2001-01-01T00:00:00Z", player_id="admin", source="server")
    body = post(client, event, auth).get_json()
    assert body["status"] == "accepted"
    assert body["ignored_fields"] == ["player_id", "received_at", "source"]
    [(_, _, _, _, received_at, _, player_id, _, payload)] = stored(db, event["event_id"])
    assert received_at > datetime.now(UTC) - timedelta(minutes=5)
    assert player_id is None
    assert {"received_at", "player_id", "source"}.isdisjoint(payload)


@pytest.mark.parametrize(
    "body",
    [
        b'{"event_id": "n1", "type": "move", "game_id": "g\x00", "move_type": "m"}',  # raw NUL: invalid JSON
        b'{"event_id": "n2", "type": "move", "game_id": "\\ud800", "move_type": "m"}',  # lone surrogate
        b'{"event_id": "n3", "type": "move", "game_id": "\xff\xfe", "move_type": "m"}',  # invalid UTF-8
    ],
)
def test_row9_raw_nul_lone_surrogates_and_invalid_utf8_are_400(client, auth, db, body):
    assert_json_error(post(client, body, auth), 400, "malformed_json")
    assert_nothing_stored(db)


def test_row9_an_escaped_nul_is_refused_and_its_payload_stored_safely(client, auth, db):
    body = b'{"event_id": "n4", "type": "move", "game_id": "g", "move_type": "m", "data": {"s": "a\\u0000b"}}'
    assert_json_error(post(client, body, auth), 422, "schema_mismatch")
    [(reason, field, event_id, payload, _)] = errors(db)
    assert (reason, field, event_id) == ("schema_mismatch", "data", "n4")
    assert orjson.loads(payload)["data"]["s"] == "a\x00b"


@pytest.mark.parametrize(
    "body",
    [
        b'{"event_id": "f1", "type": "game_end", "game_id": "g", "duration": NaN}',
        b'{"event_id": "f2", "type": "game_end", "game_id": "g", "duration": Infinity}',
        b'{"event_id": "f3", "type": "game_end", "game_id": "g", "duration": -Infinity}',
        b'{"event_id": "f4", "type": "game_end", "game_id": "g", "duration": 1e999}',
        b'{"event_id": "f5", "type": "move", "game_id": "g", "move_type": "m", "data": '
        + b'{"a": ' * 10_000 + b"1" + b"}" * 10_000 + b"}",
    ],
)
def test_row10_nan_infinity_and_deep_nesting_are_400(client, auth, db, body):
    assert_json_error(post(client, body, auth), 400, "malformed_json")
    assert_nothing_stored(db)


def test_row11_sql_injection_text_is_stored_exactly_as_sent(client, auth, db):
    nasty = "'); DROP TABLE raw.events; -- \" ; SELECT pg_sleep(10); $$ \\x00 %s %(x)s"
    event = game_start(game_id=nasty, game_type="chess' OR '1'='1", session_id="s-1", data={nasty: nasty})
    assert post(client, event, auth).get_json()["status"] == "accepted"
    [row] = db.execute("SELECT game_id, payload FROM raw.events WHERE event_id = %s", (event["event_id"],)).fetchall()
    assert row == (nasty, event)


def test_a_whole_float_timestamp_is_epoch_milliseconds_not_a_500(client, auth, db):
    millis = float(int(datetime.now(UTC).timestamp()) * 1000)
    event = move(timestamp=millis)
    assert post(client, event, auth).get_json()["status"] == "accepted"
    [(_, occurred_at, *_)] = stored(db, event["event_id"])
    assert occurred_at == datetime.fromtimestamp(millis / 1000, UTC)


def test_row12_the_same_event_twice_is_one_row_and_a_duplicate(client, auth, db):
    event = move()
    assert post(client, event, auth).get_json()["status"] == "accepted"
    assert post(client, event, auth).get_json() == {"status": "duplicate", "event_id": event["event_id"]}
    assert post(client, [event, event], auth).get_json()["duplicates"] == 2
    assert count(db, "raw.events") == 1
    assert count(db, "raw.ingest_errors") == 0


def test_row12_fifty_concurrent_copies_make_one_row(app, clean_raw, auth):
    db = clean_raw
    event = move()

    def send(_):
        return post(app.test_client(), event, auth).get_json()["status"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(send, range(50)))
    assert sorted(statuses).count("accepted") == 1
    assert statuses.count("duplicate") == 49
    assert count(db, "raw.events") == 1


def test_row12_concurrent_batches_sharing_ids_store_each_id_once(app, clean_raw, auth):
    db = clean_raw
    shared = [move() for _ in range(200)]

    def send(i):
        return post(app.test_client(), shared[i:] + shared[:i], auth).get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(send, range(8)))
    assert sum(b["accepted"] for b in bodies) == 200
    assert sum(b["duplicates"] for b in bodies) == 7 * 200
    assert count(db, "raw.events") == 200


def midnight_straddling_times(now: datetime) -> tuple[datetime, datetime]:
    """Two instants 10 s either side of a UTC midnight, both inside the accepted window (-24 h, +1 h)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if now - midnight > timedelta(hours=23, minutes=30):
        midnight += timedelta(days=1)
    return midnight - timedelta(seconds=10), midnight + timedelta(seconds=10)


def test_row12_dedup_is_exact_across_day_partitions(client, auth, db):
    before, after = midnight_straddling_times(datetime.now(UTC))
    event = move()
    first = post(client, {**event, "timestamp": before.isoformat()}, auth).get_json()
    second = post(client, {**event, "timestamp": after.isoformat()}, auth).get_json()
    assert (first["status"], second["status"]) == ("accepted", "duplicate")
    rows = db.execute("SELECT tableoid::regclass::text, occurred_at FROM raw.events WHERE event_id = %s",
                      (event["event_id"],)).fetchall()
    assert rows == [(f"raw.events_{before:%Y%m%d}_client", before)]  # the day of the game events family


def test_row13_same_id_different_payload_keeps_the_first_and_records_the_conflict(client, auth, db):
    event = move(move_type="place")
    post(client, event, auth)
    response = post(client, {**event, "move_type": "capture"}, auth)
    assert response.get_json()["status"] == "duplicate" and response.get_json()["conflict"] is True
    assert "conflict" not in post(client, event, auth).get_json()  # a plain retry is no conflict
    [(_, *_rest, payload)] = stored(db, event["event_id"])
    assert payload["move_type"] == "place"
    [(reason, field, event_id, conflict_payload, _)] = errors(db)
    assert (reason, field, event_id) == ("duplicate_conflict", "event_id", event["event_id"])
    assert orjson.loads(conflict_payload)["move_type"] == "capture"


def test_row14_clock_skew_is_corrected_and_all_three_times_stored(client, auth, db):
    skew = timedelta(hours=-7)  # the device's clock is 7 hours behind
    device_now = datetime.now(UTC) + skew
    event = move(timestamp=(device_now - timedelta(seconds=20)).isoformat(), sent_at=device_now.isoformat())
    assert post(client, event, auth).get_json()["status"] == "accepted"
    [(_, occurred_at, client_ts, sent_at, received_at, *_)] = stored(db, event["event_id"])
    assert client_ts == device_now - timedelta(seconds=20)
    assert sent_at == device_now
    assert abs((received_at - occurred_at) - timedelta(seconds=20)) < timedelta(seconds=2)
    assert occurred_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dGVzdA==", f"Bearer {WRITE_KEY[:-1]}", f"Bearer {WRITE_KEY}x",
     f"bearer {WRITE_KEY}", "Bearer wrong-key"],
)
def test_row15_a_bad_or_missing_write_key_is_401_and_nothing_stored(client, db, header):
    headers = {"Authorization": header} if header is not None else {}
    response = post(client, move(), headers)
    assert_json_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_nothing_stored(db)


def test_the_key_itself_never_reaches_the_errors_table_or_the_logs(client, auth, db, caplog):
    caplog.set_level("INFO", logger="monkeytown")
    post(client, {"event_id": "k1", "type": "move"}, auth)
    assert WRITE_KEY not in caplog.text
    assert "key=tests" in caplog.text
    assert all(WRITE_KEY not in str(row) for row in errors(db))


def test_every_response_carries_a_request_id(client, auth):
    response = post(client, move(), auth, **{"X-Request-ID": "trace-123"})
    assert response.headers["X-Request-ID"] == "trace-123"
    assert len(post(client, move(), auth).headers["X-Request-ID"]) == 16

