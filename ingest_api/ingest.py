"""The ingest service behind the write endpoints: admit at the door, land, answer after the commit."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime

import psycopg
from psycopg_pool import ConnectionPool

from ingest_api.contracts import EVENTS_ENDPOINT
from ingest_api.door import LandingRow, Rejection, admit
from ingest_api.errors import ApiError
from ingest_api.group_commit import CommitTimeout, GroupCommitter
from ingest_api.guarded_pool import GuardedPool
from ingest_api.landing import CONFLICT_MESSAGE, LandingJob, Provenance, land
from ingest_api.metrics import count_events
from ingest_api.pool import DatabaseUnavailable, request_deadline

MAX_BATCH_EVENTS = 1000


def _rejection_result(rejection: Rejection) -> dict:
    result = {"status": "rejected", "reason": rejection.reason, "message": rejection.message}
    if rejection.field:
        result["field"] = rejection.field
    result.update(rejection.identity)
    if rejection.warnings:
        result["warnings"] = rejection.warnings
    return result


def _landed_result(row: LandingRow, status: str, conflict: bool) -> dict:
    result = {"status": status, **row.identity}
    if row.warnings and status == "accepted":
        result["warnings"] = row.warnings
    if conflict:
        result["conflict"] = True
        result["message"] = CONFLICT_MESSAGE
    if row.ignored_fields:
        result["ignored_fields"] = row.ignored_fields
    return result


class IngestService:
    def __init__(self, pool: ConnectionPool):
        self.database = GuardedPool(pool)  # the primary: every write, migrations' check (/readyz)
        self.pool = pool
        self.committer = GroupCommitter(pool)
        self.outage = self.database.outage

    def ensure_open(self) -> None:
        self.database.ensure_open()

    def guarded_connection(self, deadline: float) -> AbstractContextManager[psycopg.Connection]:
        return self.database.guarded_connection(deadline)

    def ingest_message(self, body: object, raw: bytes, provenance: Provenance) -> tuple[int, dict, int]:
        """(HTTP status, answer, events in it) for what POST /api/events takes: one event, or a batch of up to
        MAX_BATCH_EVENTS (an ApiError when the batch is empty or larger)."""
        if isinstance(body, list):
            if not body:
                raise ApiError(400, "empty_batch", "the batch is empty")
            if len(body) > MAX_BATCH_EVENTS:
                raise ApiError(413, "batch_too_large",
                               f"a batch holds at most {MAX_BATCH_EVENTS} events; this one has {len(body)}")
            return 200, self.ingest_batch(body, provenance), len(body)
        status, result = self.ingest_one(body, raw, provenance)
        return status, result, 1

    def ingest_one(
        self, event: object, raw: bytes, provenance: Provenance, endpoint: str = EVENTS_ENDPOINT
    ) -> tuple[int, dict]:
        """(HTTP status, body) for a single event sent to `endpoint`, through group commit."""
        deadline = request_deadline()
        verdict = admit(event, datetime.now(UTC), serialized=raw, endpoint=endpoint)
        job = (
            LandingJob([verdict], [], provenance)
            if isinstance(verdict, LandingRow)
            else LandingJob([], [verdict], provenance)
        )
        with self.outage.attempt(deadline):
            try:
                outcome = self.committer.land(job, deadline)
            except CommitTimeout:
                raise DatabaseUnavailable("the commit did not finish in time") from None
        if isinstance(verdict, Rejection):
            count_events(rejected=1)
            body = _rejection_result(verdict)
            return 422, {"error": verdict.reason, **body}
        result = _landed_result(verdict, outcome.statuses[0], outcome.conflicts[0])
        count_events(**{result["status"]: 1})
        return 200, result

    def ingest_batch(self, events: list, provenance: Provenance) -> dict:
        """Per-event results, in order, with counts (partial success); one transaction for the batch."""
        deadline = request_deadline()
        received_at = datetime.now(UTC)
        verdicts = [admit(event, received_at) for event in events]
        rows = [v for v in verdicts if isinstance(v, LandingRow)]
        rejections = [v for v in verdicts if isinstance(v, Rejection)]
        with self.guarded_connection(deadline) as conn:
            (outcome,) = land(conn, [LandingJob(rows, rejections, provenance)])
        landed = iter(zip(outcome.statuses, outcome.conflicts, strict=True))
        results = []
        for index, verdict in enumerate(verdicts):
            if isinstance(verdict, Rejection):
                result = _rejection_result(verdict)
            else:
                result = _landed_result(verdict, *next(landed))
            results.append({"index": index, **result})
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result["status"]] += 1
        count_events(**counts)
        return {
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": results,
        }
