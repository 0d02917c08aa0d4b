"""GET /api/events/stream with a real WebSocket client (websocket-client) against the API under gunicorn, as `monkeytown
up` runs it: the handshake refuses a missing or bad key and a foreign Origin; one ack per message, in order, with the
answers HTTP gives; a resent batch answers duplicates; an oversized message closes with 1009 and stores nothing; a
flood is throttled, then closed with 1008; keep-alive pings; the database down closes with 1013 and acknowledges
nothing; a stopping server closes with 1001; and far more open connections than the workers have threads."""

from __future__ import annotations

import contextlib
import json
import signal

import psycopg
import pytest
import requests
import websocket

from ingest_api.rate_limit import parse_limits
from ingest_api.stream import MessageRate, origin_allowed
from tests.ingest_api.factories import game_start, move
from tests.servers import WRITE_KEY, api_server, own_postgres, signal_server, wait_until

# the stream's protocol does not depend on which PostgreSQL server stores the events (CI's second pass skips it)
pytestmark = pytest.mark.server_independent

OTHER_KEY = "stream-test-second-key-0123456789"
STREAM = "/api/events/stream"
ALLOWED_ORIGIN = "https://game.example"
#: the per-connection cap of the throttled server: small, per hour, so no window ends during a test
CONNECTION_CAP = 5


def ws_url(api, query: str = "") -> str:
    return api.url.replace("http://", "ws://", 1) + STREAM + query


def connect(api, *, key: str | None = WRITE_KEY, query: str = "", origin: str | None = None,
            timeout: float = 15) -> websocket.WebSocket:
    header = [f"Authorization: Bearer {key}"] if key else []
    # websocket-client sends Origin: http://host:port unless told; suppress_origin sends none (not a browser)
    options = {"origin": origin} if origin else {"suppress_origin": True}
    return websocket.create_connection(ws_url(api, query), header=header, timeout=timeout, **options)


def send(ws: websocket.WebSocket, body) -> None:
    ws.send(json.dumps(body))


def ack(ws: websocket.WebSocket) -> dict:
    data = ws.recv()
    if not data:  # websocket-client's recv() answers a close frame with ""
        raise websocket.WebSocketConnectionClosedException("the server closed the stream")
    return json.loads(data)


def server_frames(ws: websocket.WebSocket):
    """(opcode, payload) of each frame the server sends, read straight off the socket: websocket-client answers
    pings and close frames whenever it reads a frame itself, and a reply to a socket the server already shut
    would fail."""
    ws.sock.settimeout(15)
    buffer = b""
    while True:
        while True:  # whole frames in the buffer (a server's frames are unmasked)
            if len(buffer) < 2:
                break
            size, start = buffer[1] & 0x7F, 2
            if size >= 126:
                width = 2 if size == 126 else 8
                if len(buffer) < 2 + width:
                    break
                size, start = int.from_bytes(buffer[2:2 + width], "big"), 2 + width
            if len(buffer) < start + size:
                break
            yield buffer[0] & 0x0F, buffer[start:start + size]
            buffer = buffer[start + size:]
        data = ws.sock.recv(65536)
        assert data, "the server hung up without a close frame"
        buffer += data


def close_code(ws: websocket.WebSocket) -> int:
    """The code of the close frame the server sends next (acks and pings before it are skipped)."""
    for opcode, payload in server_frames(ws):
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(payload[:2], "big")
    raise AssertionError("unreachable")


def stored(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM raw.events WHERE source = 'client'), "
                            "(SELECT count(*) FROM raw.ingest_errors)").fetchone()


def refused(api, **kwargs) -> websocket.WebSocketBadStatusException:
    with pytest.raises(websocket.WebSocketBadStatusException) as refusal:
        connect(api, **kwargs)
    return refusal.value


@pytest.fixture(scope="module")
def database(make_database):
    return make_database()


@pytest.fixture(scope="module")
def api(database, tmp_path_factory):
    env = {"MONKEYTOWN_ALLOWED_ORIGINS": ALLOWED_ORIGIN, "MONKEYTOWN_STREAM_PING_SECONDS": "1"}
    with api_server(database, tmp_path_factory.mktemp("stream-api"), env=env) as api:
        yield api


@pytest.fixture(scope="module")
def throttled_api(database, tmp_path_factory):
    env = {"MONKEYTOWN_WRITE_KEYS": f"{WRITE_KEY},{OTHER_KEY}", "MONKEYTOWN_RATE_LIMIT": "12/hour",
           "MONKEYTOWN_STREAM_RATE_LIMIT": f"{CONNECTION_CAP}/hour"}
    with api_server(database, tmp_path_factory.mktemp("throttled-api"), env=env) as api:
        yield api


# --- the rules, on their own ---------------------------------------------------------------------------------

def test_an_origin_may_open_the_stream_when_it_is_the_apis_own_listed_or_any_is_allowed():
    host = "api.example:8000"
    assert origin_allowed(None, host, ())  # not a browser
    assert origin_allowed("https://api.example:8000", host, ())
    assert not origin_allowed("https://evil.example", host, ())
    assert origin_allowed("https://game.example/", host, ("https://game.example",))
    assert not origin_allowed("https://game.example.evil", host, ("https://game.example",))
    assert origin_allowed("https://anything.example", host, ("*",))


def test_the_connection_rate_counts_allowed_messages_and_tells_a_flood_from_a_pause():
    rate = MessageRate(parse_limits("3/second"))
    assert [rate.retry_after(100.1) for _ in range(3)] == [None] * 3
    assert rate.retry_after(100.5) == 1 and not rate.flooding  # over: wait for the next second
    for _ in range(3):
        rate.retry_after(100.6)
    assert rate.flooding  # four refused in one second that allows three: the client ignores retry_after
    assert rate.retry_after(101.0) is None and not rate.flooding  # a new window forgives


# --- the handshake ------------------------------------------------------------------------------------------

def test_no_key_and_a_bad_key_are_refused_at_the_handshake_with_401(api):
    assert refused(api, key=None).status_code == 401
    assert refused(api, key="not-a-key").status_code == 401
    assert refused(api, key=None, query="?key=not-a-key").status_code == 401
    refusal = refused(api, key="not-a-key")
    assert json.loads(refusal.resp_body)["error"] == "unauthorized"


def test_a_browser_sends_the_key_as_a_query_parameter(api):
    ws = connect(api, key=None, query=f"?key={WRITE_KEY}")
    send(ws, game_start())
    assert ack(ws)["status"] == "accepted"
    ws.close()


def test_an_origin_not_allowed_is_refused_with_403_and_the_own_or_a_listed_origin_opens(api):
    refusal = refused(api, origin="https://evil.example")
    assert refusal.status_code == 403
    assert json.loads(refusal.resp_body)["error"] == "origin_not_allowed"
    for origin in (ALLOWED_ORIGIN, api.url):
        ws = connect(api, origin=origin)
        send(ws, game_start())
        assert ack(ws)["status"] == "accepted", origin
        ws.close()


def test_a_plain_get_without_the_upgrade_is_a_json_426_naming_the_upgrade(api):
    answer = requests.get(api.url + STREAM, headers={"Authorization": f"Bearer {WRITE_KEY}"}, timeout=10)
    assert answer.status_code == 426
    assert answer.headers["Upgrade"] == "websocket"
    assert answer.json()["error"] == "upgrade_required"


# --- acks ---------------------------------------------------------------------------------------------------

def test_every_message_gets_one_ack_in_order_with_the_answer_http_gives(api, database):
    start = game_start()
    bad = {**move(game_id=start["game_id"]), "move_type": 7}  # wrong field type
    batch = [move(game_id=start["game_id"]) for _ in range(3)] + [{"type": "move"}]
    ws = connect(api)
    for body in (start, bad, batch, "not an event"):  # sent before reading any ack: acks follow in order
        send(ws, body)
    acks = [ack(ws) for _ in range(4)]
    ws.close()

    assert [a["seq"] for a in acks] == [1, 2, 3, 4]
    assert acks[0] == {"seq": 1, "status": "accepted", "event_id": start["event_id"]}
    http = requests.post(api.url + "/api/events", json=bad, headers={"Authorization": f"Bearer {WRITE_KEY}"},
                         timeout=10)
    assert http.status_code == 422
    assert {k: v for k, v in acks[1].items() if k != "seq"} == http.json()
    assert (acks[2]["accepted"], acks[2]["duplicates"], acks[2]["rejected"]) == (3, 0, 1)
    assert [r["status"] for r in acks[2]["results"]] == ["accepted"] * 3 + ["rejected"]
    assert acks[3]["status"] == "rejected" and acks[3]["reason"] == "schema_mismatch"
    with psycopg.connect(database) as conn:
        ids = {row[0] for row in conn.execute("SELECT event_id FROM raw.events")}
    assert {start["event_id"], *(e["event_id"] for e in batch[:3])} <= ids


def test_a_resent_batch_answers_duplicates_and_stores_nothing_twice(api, database):
    game = game_start()
    batch = [game, *(move(game_id=game["game_id"]) for _ in range(4))]
    ws = connect(api)
    send(ws, batch)
    first = ack(ws)
    before = stored(database)
    send(ws, batch)
    again = ack(ws)
    ws.close()
    assert first["accepted"] == 5
    assert (again["accepted"], again["duplicates"]) == (0, 5)
    assert stored(database) == before


def test_a_malformed_or_empty_message_is_answered_and_the_connection_stays_open(api):
    ws = connect(api)
    ws.send("{not json")
    assert ack(ws)["error"] == "malformed_json"
    send(ws, [])
    assert ack(ws)["error"] == "empty_batch"
    send(ws, [game_start()] * 1001)
    assert ack(ws)["error"] == "batch_too_large"
    send(ws, game_start())
    assert ack(ws)["status"] == "accepted"
    ws.close()


def test_an_oversized_message_closes_with_1009_and_nothing_of_it_is_stored(api, database):
    ws = connect(api)
    before = stored(database)
    big = [game_start() for _ in range(900)]
    for event in big:
        event["data"] = {"padding": "x" * 1200}  # about 1.2 MB in all: over the 1 MiB cap
    send(ws, big)
    assert close_code(ws) == 1009
    assert stored(database) == before


# --- keep-alive ---------------------------------------------------------------------------------------------

def test_the_server_pings_and_closes_a_client_that_never_answers(api):
    ws = connect(api)
    frames = []
    for frame in server_frames(ws):  # never answering a ping
        frames.append(frame)
        if frame[0] == websocket.ABNF.OPCODE_CLOSE:
            break
    assert frames[0][0] == websocket.ABNF.OPCODE_PING
    assert int.from_bytes(frames[-1][1][:2], "big") == 1008


# --- throttling ---------------------------------------------------------------------------------------------

def test_a_flood_on_one_connection_is_throttled_then_closed_with_1008(throttled_api, database):
    ws = connect(throttled_api, key=OTHER_KEY)
    events = [game_start() for _ in range(CONNECTION_CAP * 3)]
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, websocket.WebSocketConnectionClosedException):
        for event in events:  # all at once, never waiting for an ack
            send(ws, event)
    answers, code = [], None
    for opcode, payload in server_frames(ws):
        if opcode == websocket.ABNF.OPCODE_TEXT:
            answers.append(json.loads(payload))
        elif opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(payload[:2], "big")
            break
    accepted = [a for a in answers if a.get("status") == "accepted"]
    limited = [a for a in answers if a.get("error") == "rate_limited"]
    assert len(accepted) == CONNECTION_CAP
    assert limited and all(a["retry_after"] >= 1 for a in limited)
    assert code == 1008 and len(answers) < len(events)
    with psycopg.connect(database) as conn:
        landed = conn.execute("SELECT count(*) FROM raw.events WHERE event_id = ANY(%s)",
                              [[e["event_id"] for e in events]]).fetchone()[0]
    assert landed == CONNECTION_CAP


def test_the_keys_rate_limit_holds_across_its_connections(throttled_api):
    # 12 requests an hour for the key: each handshake is one, each message one
    answers = []
    for messages in (4, 4, 2):
        ws = connect(throttled_api)
        for _ in range(messages):
            send(ws, game_start())
            answers.append(ack(ws))
        ws.close()
    assert [a.get("status") or a.get("error") for a in answers] == ["accepted"] * 9 + ["rate_limited"]
    assert answers[-1]["retry_after"] >= 1
    assert refused(throttled_api).status_code == 429


# --- many connections ---------------------------------------------------------------------------------------

def test_far_more_open_connections_than_the_workers_have_threads_each_get_acks(api):
    sockets = [connect(api) for _ in range(150)]  # gthread's 2 workers x 16 threads would stop at 32
    try:
        for ws in sockets:
            send(ws, game_start())
        assert all(ack(ws)["status"] == "accepted" for ws in sockets)
    finally:
        for ws in sockets:
            ws.close()


# --- the database and the server going away -----------------------------------------------------------------

def test_the_database_down_closes_with_1013_and_acknowledges_nothing_then_a_resend_lands(tmp_path):
    with own_postgres(tmp_path / "pg") as postgres, api_server(postgres.url(), tmp_path / "home") as api:
        ws = connect(api)
        send(ws, game_start())
        assert ack(ws)["status"] == "accepted"
        signal_server(postgres, signal.SIGSTOP)  # hung: the kernel still accepts, nothing answers
        try:
            unacked = game_start()
            send(ws, unacked)
            assert close_code(ws) == 1013
        finally:
            signal_server(postgres, signal.SIGCONT)
        again = wait_until(lambda: _accepted_on_a_new_connection(api, unacked), 15, "the resend is acknowledged")
        assert again in ("accepted", "duplicate")
        with psycopg.connect(postgres.url()) as conn:
            rows = conn.execute("SELECT count(*) FROM raw.events WHERE event_id = %s",
                                [unacked["event_id"]]).fetchone()[0]
        assert rows == 1
        # the 1013 was the stream's 503: an `error` system event once the database answers again
        error = wait_until(lambda: _stream_error_event(postgres.url()), 15, "the stream's error event lands")
        assert error["status"] == 503 and error["error"] == "database_unavailable"


def _stream_error_event(url: str) -> dict | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT payload->'event_data' FROM raw.events WHERE type = 'error' "
                           "AND payload->'event_data'->>'path' = %s", [STREAM]).fetchone()
    return row[0] if row else None


def _accepted_on_a_new_connection(api, event: dict) -> str | None:
    with contextlib.suppress(websocket.WebSocketException, OSError):
        ws = connect(api, timeout=10)
        send(ws, event)
        answer = ack(ws)
        ws.close()
        return answer.get("status") if answer.get("status") in ("accepted", "duplicate") else None
    return None


def test_a_stopping_server_closes_open_streams_with_1001_and_stops_promptly(make_database, tmp_path):
    with api_server(make_database(), tmp_path / "home") as api:
        sockets = [connect(api) for _ in range(4)]
        for ws in sockets:
            send(ws, game_start())
            assert ack(ws)["status"] == "accepted"
        api.process.send_signal(signal.SIGTERM)
        assert [close_code(ws) for ws in sockets] == [1001] * 4
        # with the sockets still open on this side: the workers do not wait out gunicorn's 10 s graceful timeout
        assert api.process.wait(timeout=6) == 0
