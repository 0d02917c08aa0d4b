from datetime import UTC, datetime

import pytest

from ingest_api.door import admit
from ingest_api.group_commit import GroupCommitter
from ingest_api.landing import LandingJob, Provenance
from tests.ingest_api.factories import move


@pytest.fixture
def pool(app):
    service = app.extensions["monkeytown.ingest"]
    service.ensure_open()
    return service.pool


def test_queued_single_events_share_one_commit_and_are_answered_only_after_it(pool, clean_raw):
    committer = GroupCommitter(pool)
    events = [move() for _ in range(10)]
    futures = [
        committer.submit(LandingJob([admit(e, datetime.now(UTC))], [], Provenance(request_id=str(i))))
        for i, e in enumerate(events)
    ]
    assert not any(f.done() for f in futures)  # nothing answered before the commit
    assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 0

    assert committer.commit_next_group() == 10
    assert [f.result(timeout=0).statuses for f in futures] == [["accepted"]] * 10
    transactions = clean_raw.execute("SELECT count(DISTINCT xmin::text) FROM raw.events").fetchone()[0]
    assert transactions == 1


def test_a_failed_group_fails_every_waiter_and_the_writer_goes_on(pool, clean_raw):
    committer = GroupCommitter(pool)
    broken = admit(move(), datetime.now(UTC))
    broken.payload = "{not json"  # PostgreSQL refuses it inside the landing transaction
    futures = [committer.submit(LandingJob([broken], [], Provenance())),
               committer.submit(LandingJob([admit(move(), datetime.now(UTC))], [], Provenance()))]
    committer.commit_next_group()
    assert all(f.exception(timeout=0) is not None for f in futures)
    assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 0

    retry = committer.submit(LandingJob([admit(move(), datetime.now(UTC))], [], Provenance()))
    committer.commit_next_group()
    assert retry.result(timeout=0).statuses == ["accepted"]
