"""Landing admitted events in raw.events and refused ones in raw.ingest_errors, in one statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date
from importlib import resources

import orjson
import psycopg

from ingest_api.contracts import RefusalReason
from ingest_api.door import LandingRow, Rejection

#: One statement, one round trip, one transaction: the group travels as JSON and PostgreSQL unpacks it
#: (measured against COPY into a temporary table: a third of the client CPU for one event, less for 500).
LAND_EVENTS_SQL = resources.files("ingest_api").joinpath("sql/land_events.sql").read_text("utf-8")
CONFLICT_MESSAGE = "event_id already stored with a different payload; the first one is kept"

#: The day partitions this process made or found, per database (a process may write to more than one: tests,
#: benchmarks).
_partitions_known: dict[tuple[str, str, str], set[date]] = {}


@dataclass(frozen=True)
class Provenance:
    """Who sent a request, for the errors table and the logs (a key's name, never the key)."""

    request_id: str | None = None
    key_name: str | None = None
    source: str = "api"


@dataclass(frozen=True)
class LandingJob:
    """What one request asks to store."""

    rows: list[LandingRow]
    rejections: list[Rejection]
    provenance: Provenance


@dataclass(frozen=True)
class LandingOutcome:
    statuses: list[str]  # per row, in order: "accepted" or "duplicate"
    conflicts: list[bool]  # per row: a duplicate whose payload differed from the stored one


def ensure_partitions(conn: psycopg.Connection, days: set[date]) -> None:
    """Creates missing day partitions, each in its own short transaction, before a group needs them."""
    known = _partitions_known.setdefault((conn.info.host, str(conn.info.port), conn.info.dbname), set())
    for day in sorted(days - known):
        with conn.transaction():
            conn.execute("SELECT raw.ensure_events_partition(%s)", (day,))
        known.add(day)


def _event_record(ordinal: int, row: LandingRow, provenance: Provenance) -> dict:
    return {
        "ord": ordinal, "event_id": row.event_id, "type": row.type, "contract_version": row.contract_version,
        "occurred_at": row.occurred_at, "client_timestamp": row.client_timestamp, "sent_at": row.sent_at,
        "received_at": row.received_at, "session_id": row.session_id, "player_id": row.player_id,
        "is_anonymous": row.is_anonymous, "game_id": row.game_id, "source": row.source, "payload": row.payload,
        "payload_hash": row.payload_hash.hex(), "request_id": provenance.request_id,
        "key_name": provenance.key_name, "provenance": provenance.source,
    }


def _error_record(rejection: Rejection, provenance: Provenance) -> dict:
    return {
        "received_at": rejection.received_at, "event_id": rejection.event_id, "event_type": rejection.event_type,
        "reason": rejection.reason, "field": rejection.field, "detail": rejection.message,
        "payload": rejection.payload, "source": provenance.source, "request_id": provenance.request_id,
        "key_name": provenance.key_name,
    }


def conflict_rejection(row: LandingRow) -> Rejection:
    """The record of a copy whose payload differs from the stored first one."""
    return Rejection(RefusalReason.DUPLICATE_CONFLICT, CONFLICT_MESSAGE, row.payload, row.received_at, "event_id",
                     row.event_id, row.type)


def land(conn: psycopg.Connection, jobs: list[LandingJob]) -> list[LandingOutcome]:
    """Stores every job's rows exactly once by event_id (first one wins) and records refusals, all in one
    transaction (group commit); returns one outcome per job, after the commit. `conn` is in autocommit mode."""
    rows = [row for job in jobs for row in job.rows]
    owners = [job.provenance for job in jobs for _ in job.rows]
    statuses = ["duplicate"] * len(rows)
    conflicts = [False] * len(rows)
    first_index: dict[str, int] = {}
    for i, row in enumerate(rows):
        first = first_index.setdefault(row.event_id, i)
        if first != i and rows[first].payload_hash != row.payload_hash:
            conflicts[i] = True
    unique = list(first_index.values())

    errors = [_error_record(e, job.provenance) for job in jobs for e in job.rejections]
    errors += [_error_record(conflict_rejection(rows[i]), owners[i]) for i, c in enumerate(conflicts) if c]
    if unique:
        ensure_partitions(conn, {rows[i].occurred_at.astimezone(UTC).date() for i in unique})
    if unique or errors:
        params = {
            "events": orjson.dumps([_event_record(i, rows[i], owners[i]) for i in unique]).decode(),
            "errors": orjson.dumps(errors).decode(),
            "conflict_message": CONFLICT_MESSAGE,
            "conflict_reason": RefusalReason.DUPLICATE_CONFLICT,
        }
        for ordinal, landed in conn.execute(LAND_EVENTS_SQL, params).fetchall():
            if landed:
                statuses[ordinal] = "accepted"
            else:
                conflicts[ordinal] = True

    outcomes, start = [], 0
    for job in jobs:
        end = start + len(job.rows)
        outcomes.append(LandingOutcome(statuses[start:end], conflicts[start:end]))
        start = end
    return outcomes
