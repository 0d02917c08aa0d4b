import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import psutil
import psycopg
import pytest

from ingest_api.door import admit
from ingest_api.group_commit import CommitTimeout, GroupCommitter
from ingest_api.landing import LandingJob, Provenance
from tests.ingest_api.factories import move
from tests.servers import wait_until


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


def in_seconds(seconds: float) -> float:
    return time.monotonic() + seconds


def timed(function, *args):
    """(what it returned or raised, seconds it took)."""
    started = time.monotonic()
    try:
        result = function(*args)
    except Exception as error:  # the caller asserts on what was raised
        result = error
    return result, time.monotonic() - started


@contextmanager
def backend_stopped(conn: psycopg.Connection):
    """SIGSTOPs the server process behind `conn`: it accepts bytes and answers nothing, as a hung server does."""
    try:
        backend = psutil.Process(conn.info.backend_pid)
    except psutil.NoSuchProcess:
        backend = None
    if backend is None or backend.name() != "postgres":
        pytest.skip("the test server runs on another machine")
    backend.suspend()
    try:
        yield backend
    finally:
        backend.resume()


def stored(db, event_ids) -> list[str]:
    return [row[0] for row in db.execute("SELECT event_id FROM raw.events WHERE event_id = ANY(%s)", (event_ids,))]


def test_events_queued_behind_a_commit_share_the_next_one_and_none_is_answered_before_it(pool, clean_raw):
    committer = GroupCommitter(pool)
    answered = []
    with ThreadPoolExecutor(max_workers=10) as threads:
        with commit_in_flight(committer):
            futures = [threads.submit(lambda: answered.append(committer.land(job(), in_seconds(30))))
                       for _ in range(10)]
            wait_until(lambda: len(committer._pending) == 10, 10, "ten jobs queued")
            assert answered == []
            assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 0
        for future in futures:
            future.result(timeout=30)
    assert [outcome.statuses for outcome in answered] == [["accepted"]] * 10
    assert clean_raw.execute("SELECT count(DISTINCT xmin::text) FROM raw.events").fetchone()[0] == 1


def test_a_lone_event_is_landed_by_its_own_thread_at_once(pool, clean_raw):
    outcome = GroupCommitter(pool).land(job(), in_seconds(30))
    assert outcome.statuses == ["accepted"]
    assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 1


def test_a_failed_group_fails_every_member_and_the_next_group_succeeds(pool, clean_raw):
    committer = GroupCommitter(pool)
    broken = job()
    broken.rows[0].payload = "{not json"  # PostgreSQL refuses it inside the group's statement
    with ThreadPoolExecutor(max_workers=2) as threads, commit_in_flight(committer):
        futures = [threads.submit(committer.land, j, in_seconds(30)) for j in (broken, job())]
        wait_until(lambda: len(committer._pending) == 2, 10, "two jobs queued")
    assert all(f.exception(timeout=30) is not None for f in futures)
    assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 0
    assert committer.land(job(), in_seconds(30)).statuses == ["accepted"]


def test_a_waiter_gives_up_with_commit_timeout_when_no_commit_comes_and_leaves_the_queue(pool, clean_raw):
    committer = GroupCommitter(pool)
    given_up = job()
    with commit_in_flight(committer):
        outcome, seconds = timed(committer.land, given_up, in_seconds(0.2))
    assert isinstance(outcome, CommitTimeout) and 0.2 <= seconds < 1
    assert committer._pending == []
    committer.land(job(), in_seconds(30))  # the next commit does not store what was answered 503
    assert stored(clean_raw, [given_up.rows[0].event_id]) == []


def test_a_thread_whose_deadline_has_passed_does_not_lead(pool, clean_raw):
    late = job()
    with pytest.raises(CommitTimeout):
        GroupCommitter(pool).land(late, in_seconds(0))
    assert stored(clean_raw, [late.rows[0].event_id]) == []


def test_a_leader_stuck_in_a_commit_to_a_hung_server_is_abandoned_at_its_deadline_and_its_followers_land(
        pool, clean_raw):
    """The leader's own commit has the leader's deadline: its followers wait that long at most, then the next
    leader lands them on a fresh connection, well within their own deadlines."""
    committer = GroupCommitter(pool)
    committer.land(job(), in_seconds(5))  # the leader keeps this connection for the next group
    stuck, followers = job(), [job() for _ in range(5)]
    with ThreadPoolExecutor(max_workers=6) as threads, backend_stopped(committer._conn) as backend:
        leading = threads.submit(timed, committer.land, stuck, in_seconds(1))
        wait_until(lambda: committer._leading and not committer._pending, 5, "the leader took its group")
        waiting = [threads.submit(timed, committer.land, j, in_seconds(4)) for j in followers]
        wait_until(lambda: len(committer._pending) == 5, 5, "the followers queued behind the leader")
        error, leader_seconds = leading.result(timeout=10)
        answers = [future.result(timeout=10) for future in waiting]
    assert isinstance(error, psycopg.OperationalError) and 0.9 <= leader_seconds < 1.5
    assert [outcome.statuses for outcome, _ in answers] == [["accepted"]] * 5
    assert max(seconds for _, seconds in answers) < 2.5
    assert committer.land(stuck, in_seconds(5)).statuses[0] in ("accepted", "duplicate")  # the client's resend
    wait_until(lambda: not backend.is_running(), 10, "the resumed backend saw its client leave")
    ids = [j.rows[0].event_id for j in (stuck, *followers)]
    assert sorted(stored(clean_raw, ids)) == sorted(ids)


def test_many_threads_at_once_land_each_event_exactly_once(pool, clean_raw):
    committer = GroupCommitter(pool)
    events = [move() for _ in range(200)]
    start = threading.Barrier(16)

    def send(chunk):
        start.wait()
        return [committer.land(job(e), in_seconds(30)).statuses[0] for e in chunk]

    with ThreadPoolExecutor(max_workers=16) as threads:
        statuses = [s for chunk in threads.map(send, [events[i::16] for i in range(16)]) for s in chunk]
    assert statuses == ["accepted"] * 200
    assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 200
