"""Replay of refused and quarantined events: every pending row of raw.ingest_errors goes through the same door
(as at its original arrival) and, if admitted now, the same write path; the row records what became of it."""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import orjson
import psycopg
from psycopg.rows import class_row

from ingest_api.contracts import (
    AGENT_RUNS_ENDPOINT,
    DOOR_REASONS,
    EVENTS_ENDPOINT,
    RefusalReason,
    body_contract,
    contracts,
)
from ingest_api.door import LandingRow, Rejection, admit
from ingest_api.landing import LandingJob, Provenance, ensure_partitions, land

#: Held for a whole replay, so two at once cannot both take (and count) the same rows.
REPLAY_LOCK_KEY = 0x4D4B5402
#: Rows per chunk (one transaction each), and about the most payload bytes one chunk holds.
CHUNK_ROWS = 500
CHUNK_BYTES = 16 * 1024 * 1024
#: Records a duplicate whose first copy is stored: nothing to replay (every door reason is replayable).
NOT_REPLAYABLE = RefusalReason.DUPLICATE_CONFLICT
#: raw.ingest_errors.source of a duplicate_conflict a replay finds (the write path records it).
REPLAY_SOURCE = "replay"
CLIENT_ENDPOINTS = (EVENTS_ENDPOINT, AGENT_RUNS_ENDPOINT)
#: More days than this are named by their range.
DAYS_LISTED = 7

_SQL = resources.files("ingest_api").joinpath("sql")
PENDING_SQL = _SQL.joinpath("replay_pending.sql").read_text("utf-8")
MARK_SQL = _SQL.joinpath("replay_mark.sql").read_text("utf-8")
PROBE_SQL = _SQL.joinpath("replay_probe.sql").read_text("utf-8")


class UnknownReason(ValueError):
    """The reason asked for is not one a replay takes."""


@dataclass(frozen=True)
class PendingError:
    """A row of raw.ingest_errors not yet replayed."""

    error_id: int
    received_at: datetime
    event_type: str | None
    reason: str
    payload: str
    request_id: str | None
    key_name: str | None


@dataclass
class ReasonTally:
    """What a replay made of the rows refused for one reason."""

    examined: int = 0
    landed: int = 0  # would land, in a dry run
    already_stored: int = 0
    still_refused: Counter[str] = dataclass_field(default_factory=Counter)  # by the reason refused for now

    def add(self, other: ReasonTally) -> None:
        self.examined += other.examined
        self.landed += other.landed
        self.already_stored += other.already_stored
        self.still_refused.update(other.still_refused)

    def describe(self, landed_verb: str) -> str:
        refused = sum(self.still_refused.values())
        text = (f"{self.examined} examined, {self.landed} {landed_verb}, {self.already_stored} already stored, "
                f"{refused} still refused")
        if refused:
            text += " (" + ", ".join(f"{reason} {n}" for reason, n in sorted(self.still_refused.items())) + ")"
        return text


@dataclass
class ReplayReport:
    dry_run: bool
    by_reason: dict[str, ReasonTally] = dataclass_field(default_factory=dict)
    days: set[date] = dataclass_field(default_factory=set)  # UTC days of occurred_at of what landed

    @property
    def total(self) -> ReasonTally:
        total = ReasonTally()
        for tally in self.by_reason.values():
            total.add(tally)
        return total

    def lines(self) -> list[str]:
        """One line per reason, a total line and, when something landed, the rollup days to rebuild."""
        verb = "would land" if self.dry_run else "landed"
        lines = [f"{reason}: {tally.describe(verb)}" for reason, tally in sorted(self.by_reason.items())]
        lines.append(f"total: {self.total.describe(verb)}")
        if self.days:
            lines.append(rebuild_hint(sorted(self.days), self.dry_run))
        return lines


def rebuild_hint(days: list[date], dry_run: bool) -> str:
    """Which UTC days' rollups change, and the commands that recompute them ([min_date, max_date))."""
    named = ", ".join(map(str, days)) if len(days) <= DAYS_LISTED else f"{len(days)} days from {days[0]} to {days[-1]}"
    change = "would change" if dry_run else "change"
    window = f"{{min_date: {days[0]}, max_date: {days[-1] + timedelta(days=1)}}}"
    return (f"rollups {change} for {named} (UTC): rebuild them with "
            f"monkeytown dbt build --select tag:rollup --vars '{window}', "
            "or a Dagster backfill of refresh_rollups over those days")


def check_reason(conn: psycopg.Connection, reason: str | None) -> None:
    """Raises UnknownReason unless `reason` is None, a door reason, or one recorded by another writer."""
    if reason is None or reason in DOOR_REASONS:
        return
    if reason != NOT_REPLAYABLE and conn.execute(
        "SELECT EXISTS (SELECT FROM raw.ingest_errors WHERE reason = %s)", (reason,)
    ).fetchone()[0]:
        return
    recorded = {row[0] for row in conn.execute(
        "SELECT DISTINCT reason FROM raw.ingest_errors WHERE replayed_at IS NULL AND reason <> %s",
        (NOT_REPLAYABLE,))}
    known = ", ".join(sorted(recorded.union(DOOR_REASONS)))
    if reason == NOT_REPLAYABLE:
        raise UnknownReason(f"{NOT_REPLAYABLE} rows are never replayed (the first copy is stored); "
                            f"the reasons are: {known}")
    raise UnknownReason(f"unknown reason {reason!r}; the reasons are: {known}")


def endpoint_for(event_type: str | None, event: object) -> str:
    """The write endpoint whose contracts judge the event: its type's, else the agent-run endpoint for a body
    shaped like an agent run (a quarantined one is its stored payload, which holds no type)."""
    contract = contracts().get(event_type) if event_type else None
    if contract is not None and contract.endpoint in CLIENT_ENDPOINTS:
        return contract.endpoint
    runs = body_contract(AGENT_RUNS_ENDPOINT)
    if isinstance(event, dict) and "type" not in event and runs is not None and runs.key_field in event:
        return AGENT_RUNS_ENDPOINT
    return EVENTS_ENDPOINT


def admit_again(error: PendingError, now: datetime) -> LandingRow | Rejection:
    """The door's verdict on the row's payload as at its arrival (stale, future and clock skew judged then);
    an admitted event arrives `now`, since the incremental marts pick events up by arrival."""
    try:
        event = orjson.loads(error.payload)
    except orjson.JSONDecodeError as exc:
        return Rejection(RefusalReason.SCHEMA_MISMATCH, f"the payload is not valid JSON: {exc}", error.payload,
                         error.received_at)
    verdict = admit(event, error.received_at, serialized=error.payload.encode("utf-8"),
                    endpoint=endpoint_for(error.event_type, event))
    return dataclasses.replace(verdict, received_at=now) if isinstance(verdict, LandingRow) else verdict


def pending_chunks(
    conn: psycopg.Connection, reason: str | None, chunk_rows: int = CHUNK_ROWS, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[list[PendingError]]:
    """Pending replayable rows in error_id order, a chunk at a time, up to the newest row when the replay began."""
    through = conn.execute("SELECT coalesce(max(error_id), 0) FROM raw.ingest_errors").fetchone()[0]
    params = {"reason": reason, "not_replayable": NOT_REPLAYABLE, "after": 0, "through": through,
              "max_rows": chunk_rows, "max_bytes": chunk_bytes}
    with conn.cursor(row_factory=class_row(PendingError)) as cursor:
        while True:
            # unprepared, so each chunk is planned for its reason (null or one): the partial index serves one
            chunk = cursor.execute(PENDING_SQL, params, prepare=False).fetchall()
            if not chunk:
                return
            yield chunk
            params["after"] = chunk[-1].error_id


def _land(conn: psycopg.Connection, admitted: list[tuple[PendingError, LandingRow]]) -> list[str]:
    """Lands the admitted events through the write path: "accepted" or "duplicate" for each, in order."""
    jobs = [LandingJob([row], [], Provenance(error.request_id, error.key_name, REPLAY_SOURCE))
            for error, row in admitted]
    return [outcome.statuses[0] for outcome in land(conn, jobs)]


def _probe(conn: psycopg.Connection, rows: list[LandingRow]) -> list[str]:
    """What _land would answer, without landing: the first copy of an id the ledger lacks is "accepted"."""
    ids = list(dict.fromkeys(row.event_id for row in rows))
    fresh = {found for (found,) in conn.execute(PROBE_SQL, {"event_ids": ids})} if ids else set()
    statuses = []
    for row in rows:
        statuses.append("accepted" if row.event_id in fresh else "duplicate")
        fresh.discard(row.event_id)
    return statuses


def _mark(conn: psycopg.Connection, attempts: list[tuple[PendingError, LandingRow | Rejection, str | None]],
          now: datetime) -> None:
    marks = [
        {"error_id": error.error_id, "outcome": None, "reason": verdict.reason, "detail": verdict.message}
        if isinstance(verdict, Rejection)
        else {"error_id": error.error_id, "outcome": "landed" if status == "accepted" else "duplicate"}
        for error, verdict, status in attempts
    ]
    conn.execute(MARK_SQL, {"marks": orjson.dumps(marks).decode(), "now": now})


def _attempts(
    chunk: list[PendingError], verdicts: list[LandingRow | Rejection], statuses: list[str]
) -> list[tuple[PendingError, LandingRow | Rejection, str | None]]:
    """(row, verdict, "accepted" | "duplicate" | None when refused) for each row of the chunk."""
    landed = iter(statuses)
    return [(error, verdict, next(landed) if isinstance(verdict, LandingRow) else None)
            for error, verdict in zip(chunk, verdicts, strict=True)]


def refused_if_day_dropped(conn: psycopg.Connection, verdicts: list[LandingRow | Rejection]
                           ) -> list[LandingRow | Rejection]:
    """An admitted event whose UTC day still exists in raw.events without its family's table (retention archived
    and dropped that family day; agent runs keep every day) is refused as stale: it would otherwise land in the
    day's default table, outside the archive and every retention rule."""
    days = {v.occurred_at.astimezone(UTC).date() for v in verdicts if isinstance(v, LandingRow)}
    if not days:
        return verdicts
    held = set(conn.execute("SELECT family, day FROM raw.family_partitions() WHERE day = ANY(%s)", (sorted(days),)))
    existing = {day for _, day in held}

    def judged(verdict: LandingRow | Rejection) -> LandingRow | Rejection:
        if not isinstance(verdict, LandingRow):
            return verdict
        day = verdict.occurred_at.astimezone(UTC).date()
        if day not in existing or (verdict.source, day) in held:
            return verdict
        return Rejection(RefusalReason.STALE, f"its day {day} of source {verdict.source} was archived and dropped by "
                         f"retention; `monkeytown archive restore --day {day}` reads that day back",
                         verdict.payload, verdict.received_at, field="timestamp", event_id=verdict.event_id,
                         event_type=verdict.type, identity=verdict.identity)

    return [judged(verdict) for verdict in verdicts]


def _replay_chunk(
    conn: psycopg.Connection, chunk: list[PendingError], now: datetime, dry_run: bool
) -> list[tuple[PendingError, LandingRow | Rejection, str | None]]:
    """Admits the chunk's payloads again, then lands and marks them in one transaction (a dry run: probes)."""
    verdicts = refused_if_day_dropped(conn, [admit_again(error, now) for error in chunk])
    admitted = [(error, v) for error, v in zip(chunk, verdicts, strict=True) if isinstance(v, LandingRow)]
    if dry_run:
        return _attempts(chunk, verdicts, _probe(conn, [row for _, row in admitted]))
    # outside the chunk's transaction: a partition made inside one that rolls back would stay cached as made
    ensure_partitions(conn, {row.occurred_at.astimezone(UTC).date() for _, row in admitted})
    with conn.transaction():
        attempts = _attempts(chunk, verdicts, _land(conn, admitted))
        _mark(conn, attempts, now)
    return attempts


def _tally(report: ReplayReport, error: PendingError, verdict: LandingRow | Rejection, status: str | None) -> None:
    tally = report.by_reason.setdefault(error.reason, ReasonTally())
    tally.examined += 1
    if isinstance(verdict, Rejection):
        tally.still_refused[verdict.reason] += 1
    elif status == "accepted":
        tally.landed += 1
        report.days.add(verdict.occurred_at.astimezone(UTC).date())
    else:
        tally.already_stored += 1


@contextlib.contextmanager
def _replay_session(conn: psycopg.Connection, dry_run: bool) -> Iterator[None]:
    """A replay holds the replay lock throughout; a dry run instead runs in one transaction rolled back at the
    end, with its temporary claims table."""
    if dry_run:
        with conn.transaction(force_rollback=True):
            conn.execute("CREATE TEMPORARY TABLE replay_claims (event_id text PRIMARY KEY) ON COMMIT DROP")
            yield
        return
    conn.execute("SELECT pg_advisory_lock(%s)", (REPLAY_LOCK_KEY,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (REPLAY_LOCK_KEY,))


def replay_errors(
    url: str, reason: str | None = None, dry_run: bool = False, now: datetime | None = None,
    *, chunk_rows: int = CHUNK_ROWS,
) -> ReplayReport:
    """Re-submits every pending refused or quarantined event (of `reason`, or of any replayable reason) through
    the door and the write path; with `dry_run`, reports the same counts and writes nothing."""
    now = now or datetime.now(UTC)
    report = ReplayReport(dry_run=dry_run)
    with psycopg.connect(url, autocommit=True) as conn:
        check_reason(conn, reason)
        with _replay_session(conn, dry_run):
            for chunk in pending_chunks(conn, reason, chunk_rows):
                for attempt in _replay_chunk(conn, chunk, now, dry_run):
                    _tally(report, *attempt)
    return report
