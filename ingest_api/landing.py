"""Landing admitted events in raw.events and refused ones in raw.ingest_errors, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import psycopg

from ingest_api.door import LandingRow, Rejection

CREATE_INCOMING_SQL = resources.files("ingest_api").joinpath("sql/create_incoming.sql").read_text("utf-8")
LAND_INCOMING_SQL = resources.files("ingest_api").joinpath("sql/land_incoming.sql").read_text("utf-8")

COPY_INCOMING = (
    "COPY incoming_events (ord, event_id, type, contract_version, occurred_at, client_timestamp, sent_at, "
    "received_at, session_id, player_id, is_anonymous, game_id, source, payload, payload_hash) FROM STDIN"
)
COPY_ERRORS = (
    "COPY raw.ingest_errors (received_at, event_id, event_type, reason, field, detail, payload, source, "
    "request_id, key_name) FROM STDIN"
)

_partitions_known: set = set()


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


def prepare_connection(conn: psycopg.Connection) -> None:
    """Run once per pooled connection."""
    conn.execute(CREATE_INCOMING_SQL)
    conn.commit()


def ensure_partitions(conn: psycopg.Connection, days: set) -> None:
    """Creates missing day partitions, each in its own short transaction, before a batch needs them."""
    for day in sorted(days - _partitions_known):
        with conn.transaction():
            conn.execute("SELECT raw.ensure_events_partition(%s)", (day,))
        _partitions_known.add(day)


def _utc_day(moment: datetime):
    return moment.astimezone(UTC).date()


def _conflict_rejection(row: LandingRow) -> Rejection:
    return Rejection(
        reason="duplicate_conflict",
        message="event_id already stored with a different payload; the first one is kept",
        payload=row.payload,
        received_at=row.received_at,
        field="event_id",
        event_id=row.event_id,
        event_type=row.type,
    )


def land(conn: psycopg.Connection, jobs: list[LandingJob]) -> list[LandingOutcome]:
    """Stores every job's rows exactly once by event_id (first one wins) and records rejections, in one
    transaction (group commit); returns one outcome per job, after the commit."""
    rows = [row for job in jobs for row in job.rows]
    owner = [j for j, job in enumerate(jobs) for _ in job.rows]
    statuses = ["duplicate"] * len(rows)
    conflicts = [False] * len(rows)
    first_index: dict[str, int] = {}
    for i, row in enumerate(rows):
        first = first_index.setdefault(row.event_id, i)
        if first != i and rows[first].payload_hash != row.payload_hash:
            conflicts[i] = True
    unique = list(first_index.values())

    if unique:
        ensure_partitions(conn, {_utc_day(rows[i].occurred_at) for i in unique})
    with conn.transaction(), conn.cursor() as cur:
        if unique:
            with cur.copy(COPY_INCOMING) as copy:
                for i in unique:
                    r = rows[i]
                    copy.write_row((
                        i, r.event_id, r.type, r.contract_version, r.occurred_at, r.client_timestamp,
                        r.sent_at, r.received_at, r.session_id, r.player_id, r.is_anonymous, r.game_id,
                        r.source, r.payload, r.payload_hash,
                    ))
            for ordinal, landed in cur.execute(LAND_INCOMING_SQL).fetchall():
                if landed:
                    statuses[ordinal] = "accepted"
                else:
                    conflicts[ordinal] = True
        errors = [(e, job.provenance) for job in jobs for e in job.rejections]
        errors += [(_conflict_rejection(rows[i]), jobs[owner[i]].provenance) for i, c in enumerate(conflicts) if c]
        if errors:
            with cur.copy(COPY_ERRORS) as copy:
                for e, p in errors:
                    copy.write_row((
                        e.received_at, e.event_id, e.event_type, e.reason, e.field, e.message, e.payload,
                        p.source, p.request_id, p.key_name,
                    ))
    outcomes, start = [], 0
    for job in jobs:
        end = start + len(job.rows)
        outcomes.append(LandingOutcome(statuses[start:end], conflicts[start:end]))
        start = end
    return outcomes
