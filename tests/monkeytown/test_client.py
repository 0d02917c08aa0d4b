"""The Python client (monkeytown.client) against the API under gunicorn: over the WebSocket stream it answers what
POST /api/events answers, sends agent runs over HTTP, rides out the database going away (a 1013 close) without a
second row, and `monkeytown simulate --transport ws` streams a whole run over it."""

from __future__ import annotations

import signal
import threading

import orjson
import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ingest_api.contracts import AGENT_RUNS_ENDPOINT
from monkeytown.client import ClientError, StreamTransport, open_transport
from monkeytown.client.stream import as_http_answer, stream_url
from tests.cli import monkeytown_env, run_monkeytown
from tests.ingest_api.factories import agent_run, game_start, move
from tests.servers import AUTH, WRITE_KEY, api_server, own_postgres, signal_server

# the client's protocol does not depend on which PostgreSQL server stores the events (CI's second pass skips it)
pytestmark = pytest.mark.server_independent


@pytest.fixture(scope="module")
def database(make_database):
    return make_database()


@pytest.fixture(scope="module")
def api(database, tmp_path_factory):
    with api_server(database, tmp_path_factory.mktemp("client-api")) as api:
        yield api


@pytest.fixture
def stream(api):
    transport = open_transport("ws", api.url, WRITE_KEY, give_up_after=20)
    yield transport
    transport.close()


def rows(url: str, event_ids: list[str]) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM raw.events WHERE event_id = ANY(%s)", [event_ids]).fetchone()[0]


def test_the_stream_url_follows_the_api_url():
    assert stream_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/api/events/stream"
    assert stream_url("https://api.example/base/") == "wss://api.example/base/api/events/stream"
    with pytest.raises(ClientError):
        stream_url("ftp://example.org")


def test_an_ack_becomes_the_status_and_body_http_would_give():
    assert as_http_answer({"seq": 3, "status": "accepted", "event_id": "a"}) == (200, {"status": "accepted",
                                                                                       "event_id": "a"})
    assert as_http_answer({"seq": 1, "error": "schema_mismatch", "status": "rejected"})[0] == 422
    assert as_http_answer({"seq": 1, "error": "batch_too_large", "message": "m"})[0] == 413
    assert as_http_answer({"seq": 1, "accepted": 1, "duplicates": 0, "rejected": 0, "results": []})[0] == 200


def test_over_the_stream_the_client_answers_what_http_answers(api, stream, database):
    event, bad = game_start(), move(move_type=7)
    assert stream.post(orjson.dumps(event)) == (200, {"status": "accepted", "event_id": event["event_id"]})
    assert stream.post(orjson.dumps(event)) == (200, {"status": "duplicate", "event_id": event["event_id"]})
    status, answer = stream.post(orjson.dumps(bad))
    http = requests.post(api.url + "/api/events", json=bad, headers=AUTH, timeout=10)
    assert (status, answer) == (http.status_code, http.json())
    batch = [game_start(), move()]
    status, answer = stream.post(orjson.dumps(batch))
    assert status == 200 and answer["accepted"] == 2
    assert stream.post(b"[]")[0] == 400
    assert rows(database, [event["event_id"], *(e["event_id"] for e in batch)]) == 3


def test_agent_runs_go_over_http(api, stream, database):
    run = agent_run()
    status, answer = stream.post(orjson.dumps(run), AGENT_RUNS_ENDPOINT)
    assert status == 200 and answer["status"] == "accepted"


def test_a_wrong_key_is_one_clear_error(api):
    transport = StreamTransport(api.url, "not-the-key", threading.Event().wait, give_up_after=5)
    with pytest.raises(ClientError, match=r"refused the write key \(401\)"):
        transport.post(orjson.dumps(game_start()))
    transport.close()


def test_the_client_rides_out_the_database_going_away_and_stores_each_event_once(tmp_path):
    with own_postgres(tmp_path / "pg") as postgres, api_server(postgres.url(), tmp_path / "home") as api:
        transport = open_transport("ws", api.url, WRITE_KEY, give_up_after=40)
        first = game_start()
        assert transport.post(orjson.dumps(first))[0] == 200
        signal_server(postgres, signal.SIGSTOP)
        resume = threading.Timer(6.0, signal_server, (postgres, signal.SIGCONT))  # the outage lasts six seconds
        resume.start()
        try:
            during = [game_start() for _ in range(3)]
            answers = [transport.post(orjson.dumps(event)) for event in during]
        finally:
            resume.join()
            signal_server(postgres, signal.SIGCONT)
            transport.close()
        assert all(status == 200 and answer["status"] in ("accepted", "duplicate") for status, answer in answers)
        assert rows(postgres.url(), [e["event_id"] for e in during]) == 3


def test_simulate_streams_a_whole_run_over_the_websocket(api, database, tmp_path):
    before = _requests_by_endpoint(api)
    result = run_monkeytown(monkeytown_env(tmp_path), "simulate", "--url", api.url, "--key", WRITE_KEY,
                            "--games", "4", "--rate", "200", "--seed", "7", "--transport", "ws", timeout=180)
    assert result.returncode == 0, result.stderr
    after = _requests_by_endpoint(api)
    assert after.get("/api/events/stream", 0) - before.get("/api/events/stream", 0) == 1  # one connection
    assert after.get("/api/events", 0) == before.get("/api/events", 0)  # no event went over HTTP
    done = next(line for line in result.stdout.splitlines() if line.startswith("simulate: done after"))
    accepted = int(done.split(" accepted")[0].rsplit(" ", 1)[1])
    with psycopg.connect(database) as conn:
        stored = conn.execute("SELECT count(*) FROM raw.events WHERE source IN ('client', 'ci')").fetchone()[0]
    assert 0 < accepted <= stored


def _requests_by_endpoint(api) -> dict[str, float]:
    text = requests.get(api.url + "/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "monkeytown_request_duration_seconds":
            for sample in family.samples:
                if sample.name.endswith("_count"):
                    endpoint = sample.labels["endpoint"]
                    counts[endpoint] = counts.get(endpoint, 0) + sample.value
    return counts
