"""QUALITY.md row 26: an API worker SIGKILLed during a 1000-event batch leaves all of the batch stored or none
of it, and the resend lands each event once. The test holds one event_id of the batch in an open transaction, so
the batch's landing statement stops midway (the rows before it inserted, uncommitted) while the worker is killed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from tests.ingest_api.factories import move
from tests.servers import Api, api_server, own_postgres, wait_until

BATCH = 1000


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    with own_postgres(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(scope="module")
def api(postgres, tmp_path_factory):
    with api_server(postgres.url(), tmp_path_factory.mktemp("home"), workers=1) as server:
        yield server


def blocked_landing(db: psycopg.Connection) -> int | None:
    """The pid of the API's backend waiting for a lock, if there is one."""
    row = db.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'monkeytown-api'"
                     " AND wait_event_type = 'Lock'").fetchone()
    return row[0] if row else None


def is_gone(db: psycopg.Connection, backend: int) -> bool:
    return db.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone()[0] == 0


def stored(db: psycopg.Connection, batch: list[dict]) -> tuple[int, int]:
    """(rows, distinct event_ids) of the batch in raw.events."""
    ids = [event["event_id"] for event in batch]
    return db.execute("SELECT count(*), count(DISTINCT event_id) FROM raw.events WHERE event_id = ANY(%s)",
                      (ids,)).fetchone()


def kill_the_worker_mid_batch(api: Api, url: str, batch: list[dict], *, hold_until_cancelled: bool) -> None:
    """Sends the batch, SIGKILLs the worker while its landing waits on the held event_id, then lets go (at once,
    or only after the server cancelled the orphaned statement at its statement_timeout)."""
    last = max(event["event_id"] for event in batch)  # the ledger claims ids in order: this one comes last
    (worker,) = api.workers()
    with (psycopg.connect(url, autocommit=True) as observer, psycopg.connect(url) as holder,
          ThreadPoolExecutor(max_workers=1) as sender):
        holder.execute("INSERT INTO raw.event_ids VALUES (%s, now(), now(), '\\x00')", (last,))
        sending = sender.submit(api.post, batch)
        backend = wait_until(lambda: blocked_landing(observer), 10, "the batch's landing waits midway")
        worker.kill()
        with pytest.raises(requests.ConnectionError):
            sending.result(timeout=10)
        if hold_until_cancelled:
            wait_until(lambda: is_gone(observer, backend), 10, "the server cancels the orphaned landing")
        holder.rollback()
        wait_until(lambda: is_gone(observer, backend), 10, "the orphaned landing ends")


@pytest.mark.parametrize("hold_until_cancelled", [False, True], ids=["released-at-once", "held-until-cancelled"])
def test_a_worker_killed_mid_batch_stores_all_or_none_and_the_resend_lands_each_event_once(
        postgres, api, hold_until_cancelled):
    url = postgres.url()
    batch = [move() for _ in range(BATCH)]
    kill_the_worker_mid_batch(api, url, batch, hold_until_cancelled=hold_until_cancelled)
    with psycopg.connect(url, autocommit=True) as db:
        after_kill, _ = stored(db, batch)
        # an orphaned landing either commits whole or is rolled back whole; cancelled, it is rolled back
        assert after_kill in ((0,) if hold_until_cancelled else (0, BATCH))
        wait_until(api.is_ready, 30, "gunicorn replaced the killed worker", interval=0.1)
        resent = api.post(batch)
        assert resent.status == 200
        assert (resent.body["accepted"], resent.body["duplicates"]) == (BATCH - after_kill, after_kill)
        assert stored(db, batch) == (BATCH, BATCH)
