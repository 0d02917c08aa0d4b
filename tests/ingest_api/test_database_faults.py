"""QUALITY.md row 20 with real faults: the API under gunicorn against a PostgreSQL of the test's own, whose
processes are stopped (SIGSTOP: a server that takes bytes and answers nothing) or killed and restarted under load.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import pytest
import requests

from ingest_api.ingest import MAX_BATCH_EVENTS
from tests.ingest_api.factories import move
from tests.servers import Answer, Api, api_server, kill_server, own_postgres, restart_server, signal_server, wait_until

#: QUALITY.md row 20's 5 s, plus room for scheduling on a loaded 2-core machine.
BOUND_SECONDS = 5.5
#: How long the API may take to serve again once the database answers; it is not restarted.
RECOVERY_SECONDS = 10
#: More concurrent requests than the API's threads (2 workers x 16): none may queue past the bound.
BURST = 40


@pytest.fixture
def postgres(tmp_path):
    with own_postgres(tmp_path / "pg") as server:
        yield server


@pytest.fixture
def api(postgres, tmp_path):
    with api_server(postgres.url(), tmp_path / "home") as server:
        yield server


@dataclass(frozen=True)
class Sent:
    events: list[dict]  # one, or a batch
    answer: Answer


def send_all_at_once(api: Api, bodies: list) -> list[Sent]:
    """Posts every body concurrently (a dict is one event, a list a batch)."""
    with ThreadPoolExecutor(max_workers=len(bodies)) as threads:
        answers = list(threads.map(api.post, bodies))
    return [Sent(body if isinstance(body, list) else [body], answer)
            for body, answer in zip(bodies, answers, strict=True)]


def assert_unavailable_in_time(answer: Answer) -> None:
    assert answer.status == 503, answer
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.seconds <= BOUND_SECONDS, answer


def resend_until_stored(api: Api, events: list[dict]) -> None:
    """What a client does with every event not answered 200: send it again (in batches) until it is."""
    for start in range(0, len(events), MAX_BATCH_EVENTS):
        batch = events[start:start + MAX_BATCH_EVENTS]
        answer = wait_until(lambda b=batch: ok(api.post(b)), RECOVERY_SECONDS, "a resent batch is stored")
        assert answer.body["rejected"] == 0
        assert answer.body["accepted"] + answer.body["duplicates"] == len(batch)


def ok(answer: Answer) -> Answer | None:
    return answer if answer.status == 200 else None


def copies_stored(url: str, event_ids: list[str]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT event_id, count(*) FROM raw.events WHERE event_id = ANY(%s) GROUP BY event_id",
                            (event_ids,)).fetchall()
    return dict(rows)


def burst_with_readyz(api: Api) -> tuple[list[Sent], Answer]:
    """BURST single events, a batch of 200 and /readyz, all at once."""
    with ThreadPoolExecutor(max_workers=1) as prober:
        asking = prober.submit(api.get, "/readyz")
        sent = send_all_at_once(api, [*(move() for _ in range(BURST)), [move() for _ in range(200)]])
        return sent, asking.result(timeout=30)


def test_a_hung_database_gives_503_with_retry_after_within_5_s_and_service_resumes_by_itself(postgres, api):
    assert all(api.post(move()).status == 200 for _ in range(4))  # pooled connections and the leader's are in hand
    refused: list[dict] = []
    try:
        assert signal_server(postgres, signal.SIGSTOP) >= 2
        # the first round waits on the database until the deadline; the second finds the outage known
        for _ in range(2):
            sent, readyz = burst_with_readyz(api)
            for each in sent:
                assert_unavailable_in_time(each.answer)
                refused += each.events
            assert_unavailable_in_time(readyz)
            assert readyz.body["status"] == "unavailable"
    finally:
        signal_server(postgres, signal.SIGCONT)
    first = wait_until(lambda: ok(api.post(move())), RECOVERY_SECONDS, "the API stores events again")
    assert first.body["status"] == "accepted"
    wait_until(lambda: ok(api.get("/readyz")), RECOVERY_SECONDS, "the API is ready again")
    resend_until_stored(api, refused)
    ids = [event["event_id"] for event in refused]
    assert copies_stored(postgres.url(), ids) == dict.fromkeys(ids, 1)


class Load:
    """Client threads posting unique single events as fast as they are answered, each answer kept."""

    def __init__(self, api: Api, threads: int):
        self.api = api
        self.sent: list[Sent] = []
        self._stop = threading.Event()
        self._threads = ThreadPoolExecutor(max_workers=threads)
        self._clients = [self._threads.submit(self._client) for _ in range(threads)]

    def _client(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                event = move()
                self.sent.append(Sent([event], self.api.post(event, session=session)))

    def stored_since(self, moment: float) -> int:
        """Events answered 200 by requests that ended after the monotonic `moment`."""
        return sum(1 for s in self.sent if s.answer.status == 200 and s.answer.ended_at > moment)

    def stop(self) -> list[Sent]:
        self._stop.set()
        for client in self._clients:
            client.result(timeout=30)  # re-raises a client's failure
        self._threads.shutdown()
        return self.sent


def test_a_database_killed_and_restarted_under_load_loses_no_acknowledged_event(postgres, api):
    url = postgres.url()  # the API's
    load = Load(api, threads=4)
    try:
        wait_until(lambda: load.stored_since(0) >= 100, 20, "events are stored under load")
        kill_server(postgres)
        restart_server(postgres, url)
        restarted = time.monotonic()
        wait_until(lambda: load.stored_since(restarted) >= 100, RECOVERY_SECONDS, "events are stored again")
    finally:
        sent = load.stop()
    refused = [s for s in sent if s.answer.status != 200]
    assert refused, "the kill refused no request: the fault missed the load"
    for each in refused:
        assert_unavailable_in_time(each.answer)
    assert max(s.answer.seconds for s in sent) <= BOUND_SECONDS
    assert all(s.answer.body["status"] == "accepted" for s in sent if s.answer.status == 200)
    resend_until_stored(api, [event for s in refused for event in s.events])
    ids = [event["event_id"] for s in sent for event in s.events]
    assert copies_stored(url, ids) == dict.fromkeys(ids, 1)
