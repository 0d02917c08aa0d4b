"""MONKEYTOWN_REDIS_URL with real processes: two API servers (gunicorn, gevent workers, as `monkeytown serve api` runs
them) on different ports, as on two hosts, share one rate limit per key through a real Redis; without it each counts
alone; with Redis stopped mid-way they fail open to their own machine's counters. A WebSocket stream's handshake and
messages count in the same place."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from ingest_api.redis_counters import POOL_SIZE
from tests.ingest_api.factories import move
from tests.ingest_api.test_stream import ack, connect
from tests.ingest_api.test_stream import send as send_message
from tests.servers import Api, api_server

# the subject is where the limit is counted, not the database server: it only stores the accepted events
pytestmark = pytest.mark.server_independent


@contextlib.contextmanager
def two_apis(database_url, tmp_path, env: dict):
    with api_server(database_url, tmp_path / "one", env=env) as one, api_server(database_url, tmp_path / "two",
                                                                                env=env) as two:
        yield one, two


def send(apis: list[Api], rounds: int) -> list[tuple[int, str | None]]:
    """`rounds` events to each API in turn: each answer's status and Retry-After."""
    answers = []
    with requests.Session() as session:
        for _ in range(rounds):
            for api in apis:
                answer = api.post(move(), session=session)
                answers.append((answer.status, answer.headers.get("Retry-After")))
    return answers


def stored(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM raw.events WHERE type = 'move'").fetchone()[0]


def fallbacks(api: Api) -> float:
    lines = [line for line in requests.get(api.url + "/metrics", timeout=10).text.splitlines()
             if line.startswith("monkeytown_rate_limit_fallbacks_total ")]
    return float(lines[0].split()[1]) if lines else 0.0


def test_two_api_servers_sharing_redis_enforce_one_limit(make_database, redis_server, tmp_path):
    database_url = make_database()
    env = {"MONKEYTOWN_RATE_LIMIT": "10/year", "MONKEYTOWN_REDIS_URL": redis_server.url}  # no run straddles a year
    with two_apis(database_url, tmp_path, env) as (one, two):
        answers = send([one, two], 6)
        gunicorn_log = (tmp_path / "one" / "gunicorn.out").read_text()
    assert [status for status, _ in answers] == [200] * 10 + [429] * 2
    assert all(1 <= int(retry_after) <= 360 * 86400 for _, retry_after in answers[10:])
    assert stored(database_url) == 10
    assert "Using worker: gevent" in gunicorn_log
    assert f"counted in Redis at redis://127.0.0.1:{redis_server.port}/0" in gunicorn_log


def test_a_websocket_stream_on_one_server_and_posts_to_the_other_share_the_keys_limit(make_database, redis_server,
                                                                                     tmp_path):
    database_url = make_database()
    env = {"MONKEYTOWN_RATE_LIMIT": "10/year", "MONKEYTOWN_REDIS_URL": redis_server.url}
    with two_apis(database_url, tmp_path, env) as (one, two):
        ws = connect(one)  # the handshake is one request of the key
        acks = []
        for _ in range(5):
            send_message(ws, move())
            acks.append(ack(ws))
        posted = send([two], 6)
        send_message(ws, move())
        last = ack(ws)
        ws.close()
    assert [a.get("status") for a in acks] == ["accepted"] * 5
    assert [status for status, _ in posted] == [200] * 4 + [429] * 2
    assert last["error"] == "rate_limited" and last["retry_after"] >= 1
    assert stored(database_url) == 9


def test_concurrent_requests_over_two_servers_take_exactly_the_shared_limit(make_database, redis_server, tmp_path):
    database_url = make_database()
    env = {"MONKEYTOWN_RATE_LIMIT": "30/year", "MONKEYTOWN_REDIS_URL": redis_server.url}
    with two_apis(database_url, tmp_path, env) as (one, two), ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(pool.map(lambda i: (one, two)[i % 2].post(move()).status, range(90)))
        with redis_server.client() as client:
            connections = len(client.client_list()) - 1  # not this one
    assert (statuses.count(200), statuses.count(429)) == (30, 60)
    assert stored(database_url) == 30
    assert 1 <= connections <= 2 * 2 * POOL_SIZE  # two servers of two workers, each pool bounded


def test_without_redis_each_api_server_counts_alone(make_database, tmp_path):
    database_url = make_database()
    with two_apis(database_url, tmp_path, {"MONKEYTOWN_RATE_LIMIT": "10/year"}) as (one, two):
        assert [status for status, _ in send([one, two], 6)] == [200] * 12  # documented: up to N times the limit
        assert [status for status, _ in send([one], 5)] == [200] * 4 + [429]  # one server's own ten are spent
    assert "counted on this machine" in (tmp_path / "one" / "gunicorn.out").read_text()


def test_with_redis_stopped_mid_way_each_server_fails_open_to_its_own_limit(make_database, redis_server, tmp_path):
    database_url = make_database()
    env = {"MONKEYTOWN_RATE_LIMIT": "10/year", "MONKEYTOWN_REDIS_URL": redis_server.url}
    with two_apis(database_url, tmp_path, env) as (one, two):
        assert [status for status, _ in send([one, two], 4)] == [200] * 8  # eight of the ten, counted in Redis
        redis_server.stop()
        # not refused because the store is down: each server counts on its own from zero, and still holds the limit
        assert [status for status, _ in send([one], 11)] == [200] * 10 + [429]
        assert [status for status, _ in send([two], 1)] == [200]
        assert fallbacks(one) == 11 and fallbacks(two) == 1
    assert stored(database_url) == 8 + 10 + 1
    log = (tmp_path / "one" / "gunicorn.out").read_text()
    assert f"Redis at redis://127.0.0.1:{redis_server.port}/0 is unreachable" in log
    assert "counted on this machine alone" in log


def test_the_same_event_sent_to_both_servers_at_once_lands_once(make_database, redis_server, tmp_path):
    # exact deduplication lives in PostgreSQL, whichever API process an event reaches
    database_url = make_database()
    event = move()
    with two_apis(database_url, tmp_path, {"MONKEYTOWN_REDIS_URL": redis_server.url}) as (one, two), \
            ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda i: (one, two)[i % 2].post(event).body["status"], range(40)))
    assert sorted(answers) == ["accepted"] + ["duplicate"] * 39
    assert stored(database_url) == 1


def test_under_gevent_a_hung_redis_holds_up_only_the_request_waiting_on_it(make_database, redis_server, tmp_path):
    # redis-py's sockets are cooperative under gevent's monkey-patching: the worker's other requests go on meanwhile
    database_url = make_database()
    env = {"MONKEYTOWN_RATE_LIMIT": "10/year", "MONKEYTOWN_REDIS_URL": redis_server.url}
    with api_server(database_url, tmp_path / "one", workers=1, env=env) as api, ThreadPoolExecutor(1) as pool:
        assert api.post(move()).status == 200  # the worker's connection to Redis is open
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            waiting = pool.submit(api.post, move())
            health = []
            while not waiting.done():
                health.append(api.get("/healthz"))
            posted = waiting.result()
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
    assert posted.status == 200  # fail open, within the bound
    assert 0.4 <= posted.ended_at - started < 5
    overlapping = [answer for answer in health if answer.ended_at < posted.ended_at]
    assert len(overlapping) >= 3 and all(answer.status == 200 for answer in overlapping)
    # a blocked worker would answer one /healthz in the whole wait; 0.6 s leaves room for a busy CI machine
    assert max(answer.seconds for answer in overlapping) < 0.6
