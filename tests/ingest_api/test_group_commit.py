import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from ingest_api.door import admit
from ingest_api.group_commit import CommitTimeout, GroupCommitter
from ingest_api.landing import LandingJob, Provenance
from tests.ingest_api.factories import move


@pytest.fixture
def pool(app):
    service = app.extensions["monkeytown.ingest"]
    service.ensure_open()
    return service.pool


def job(event=None):
    return LandingJob([admit(event or move(), datetime.now(UTC))], [], Provenance())


@contextmanager
def commit_in_flight(committer: GroupCommitter):
    """Plays a leader whose commit is still running: jobs queue behind it until the block ends."""
    with committer._turn:
        committer._leading = True
    try:
        yield
    finally:
        with committer._turn:
            committer._leading = False
            committer._turn.notify_all()


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_events_queued_behind_a_commit_share_the_next_one_and_none_is_answered_before_it(pool, clean_raw):
    committer = GroupCommitter(pool)
    answered = []
    with ThreadPoolExecutor(max_workers=10) as threads:
        with commit_in_flight(committer):
            futures = [threads.submit(lambda: answered.append(committer.land(job(), timeout=30))) for _ in range(10)]
            wait_until(lambda: len(committer._pending) == 10)
            assert answered == []
            assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 0
        for future in futures:
            future.result(timeout=30)
    assert [outcome.statuses for outcome in answered] == [["accepted"]] * 10
    assert clean_raw.execute("SELECT count(DISTINCT xmin::text) FROM raw.events").fetchone()[0] == 1


def test_a_lone_event_is_landed_by_its_own_thread_at_once(pool, clean_raw):
    outcome = GroupCommitter(pool).land(job(), timeout=30)
    assert outcome.statuses == ["accepted"]
    assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 1


def test_a_failed_group_fails_every_member_and_the_next_group_succeeds(pool, clean_raw):
    committer = GroupCommitter(pool)
    broken = job()
    broken.rows[0].payload = "{not json"  # PostgreSQL refuses it inside the group's statement
    with ThreadPoolExecutor(max_workers=2) as threads, commit_in_flight(committer):
        futures = [threads.submit(committer.land, j, 30) for j in (broken, job())]
        wait_until(lambda: len(committer._pending) == 2)
    assert all(f.exception(timeout=30) is not None for f in futures)
    assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 0
    assert committer.land(job(), timeout=30).statuses == ["accepted"]


def test_a_waiter_gives_up_with_commit_timeout_when_no_commit_comes(pool, clean_raw):
    committer = GroupCommitter(pool)
    with commit_in_flight(committer), pytest.raises(CommitTimeout):
        committer.land(job(), timeout=0.2)


def test_many_threads_at_once_land_each_event_exactly_once(pool, clean_raw):
    committer = GroupCommitter(pool)
    events = [move() for _ in range(200)]
    start = threading.Barrier(16)

    def send(chunk):
        start.wait()
        return [committer.land(job(e), timeout=30).statuses[0] for e in chunk]

    with ThreadPoolExecutor(max_workers=16) as threads:
        statuses = [s for chunk in threads.map(send, [events[i::16] for i in range(16)]) for s in chunk]
    assert statuses == ["accepted"] * 200
    assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 200
