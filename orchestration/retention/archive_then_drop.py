"""Archive, prove, then drop, one family day at a time, and the daily run over every expired family day.

Crash-safe at every step: until the drop commits, every row is in PostgreSQL; the drop commits only after the
archive read back from the store verified and its rows and rows checksum equalled those PostgreSQL holds, under a
lock that keeps the day unchanged until the drop, which deletes the mart rows built from the day's events
(marts_follow) and records its system event in the same transaction. A rerun
finds each day in one of those states and finishes it: archive_day completes or skips the archive, and a day
already dropped is reported done once its archive verifies."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

import psycopg
from psycopg import sql

from ingest_api.system_events import record_retention
from orchestration.retention.errors import ArchiveError, ChecksumMismatch, DayLost, DropRefused
from orchestration.retention.layout import data_object_key
from orchestration.retention.marts_follow import drop_mart_rows_of_day
from orchestration.retention.parquet_day import DayVerification, archive_day, verify_day
from orchestration.retention.policy import RetentionPolicy, expired_family_days
from orchestration.retention.postgres_day import DaySelection, postgres_day_checksum, stream_day_rows
from orchestration.retention.step_barrier import pause_at
from orchestration.retention.store import ArchiveStore

CONNECT_TIMEOUT_SECONDS = 5
LOCK_TIMEOUT = "10s"  # a reader holding the day for long fails the drop within seconds, as raw.drop_family_day does
#: The steps of one family day, in order, where step_barrier can stop it (tests kill the process there).
STEPS = ("reading", "data_object_stored", "archived", "compared", "dropped", "committed")


class Result(StrEnum):
    ARCHIVED_AND_DROPPED = "archived_and_dropped"
    ALREADY_DONE = "already_done"  # dropped by an earlier run; its archive verifies
    WOULD_ARCHIVE_AND_DROP = "would_archive_and_drop"  # dry run
    FAILED = "failed"


@dataclass(frozen=True)
class DayOutcome:
    family: str
    day: date
    rows: int
    bytes: int | None  # the archived data object's; None when not archived yet (dry run)
    outcome: Result
    archive_object: str | None = None
    error: str | None = None
    #: rows deleted per mart with the day ({"marts.moves": 12}); empty when no mart follows it or none exists yet
    mart_rows: dict[str, int] = field(default_factory=dict, hash=False)

    def line(self) -> str:
        size = "-" if self.bytes is None else f"{self.bytes} bytes"
        marts = "".join(f", {rows} rows from {mart}" for mart, rows in self.mart_rows.items())
        detail = f": {self.error}" if self.error else ""
        return f"{self.day} {self.family}: {self.rows} rows, {size}, {self.outcome}{marts}{detail}"


@dataclass
class RetentionReport:
    as_of: date
    dry_run: bool
    days: list[DayOutcome] = field(default_factory=list)

    @property
    def failure(self) -> DayOutcome | None:
        return next((day for day in self.days if day.outcome is Result.FAILED), None)

    def lines(self) -> list[str]:
        verb = "would archive and drop" if self.dry_run else "archived and dropped"
        done = [day for day in self.days if day.outcome is not Result.FAILED]
        return [day.line() for day in self.days] + [
            f"as of {self.as_of}: {verb} {len(done)} family days, {sum(day.rows for day in done)} rows"]


class RetentionFailed(ArchiveError):
    """A family day failed; the run stopped there and dropped nothing after it. `report` says what was done."""

    def __init__(self, report: RetentionReport):
        self.report = report
        failure = report.failure
        super().__init__(f"retention stopped at {failure.family} {failure.day}: {failure.error}")


class _ObservedStore:
    """The store, with the named step `data_object_stored` between the data object's put and the manifest's."""

    def __init__(self, store: ArchiveStore):
        self._store = store
        self.url = store.url

    def put_if_absent(self, key: str, source: Path | bytes) -> bool:
        written = self._store.put_if_absent(key, source)
        if key.endswith(".parquet"):
            pause_at("data_object_stored")
        return written

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def _observed(rows: Iterable[tuple]) -> Iterator[tuple]:
    for number, row in enumerate(rows):
        yield row
        if number == 0:
            pause_at("reading")


def _object_url(store: ArchiveStore, verification: DayVerification) -> str:
    manifest = verification.manifest
    return f"{store.url.rstrip('/')}/{data_object_key(manifest.family, manifest.day, manifest.data_object)}"


def _holds(conn: psycopg.Connection, family: str, day: date) -> bool:
    return conn.execute("SELECT EXISTS (SELECT FROM raw.family_partitions() WHERE family = %s AND day = %s)",
                        (family, day)).fetchone()[0]


def _already_done(store: ArchiveStore, family: str, day: date) -> DayOutcome:
    verification = verify_day(store, family, day)
    if not verification.ok:
        raise DayLost(f"raw.events no longer holds {family} {day} and {store.url} holds no verified archive of it "
                      f"({verification.state}: {'; '.join(verification.problems)})")
    return DayOutcome(family, day, verification.rows, verification.manifest.bytes, Result.ALREADY_DONE,
                      _object_url(store, verification))


def _archive(conn: psycopg.Connection, store: ArchiveStore, family: str, selection: DaySelection) -> DayVerification:
    rows = _observed(stream_day_rows(conn, selection))
    try:
        archive_day(_ObservedStore(store), family, selection.day, rows)
    finally:
        rows.close()  # ends the read's transaction if archiving stopped half way
    pause_at("archived")
    verification = verify_day(store, family, selection.day)
    if not verification.ok:
        raise DropRefused(f"{family} {selection.day} does not verify in {store.url}: "
                          f"{'; '.join(verification.problems)}")
    return verification


def _drop_proven(conn: psycopg.Connection, store: ArchiveStore, family: str, selection: DaySelection,
                 verification: DayVerification) -> dict[str, int]:
    """In one transaction: the day locked against new rows, its rows checksum compared with the archive's, the
    mart rows of its events deleted, the family day dropped and the drop recorded as a system event; returns the
    mart rows deleted per mart."""
    day, manifest = selection.day, verification.manifest
    with conn.transaction():
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (LOCK_TIMEOUT,))
        # raw.drop_family_day's own lock, taken first, so two runs queue instead of deadlocking on the day's lock
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('raw.events family day drops'))")
        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.Identifier("raw", f"events_{day:%Y%m%d}")))
        in_postgres = postgres_day_checksum(conn, selection)
        archived = (verification.rows, verification.rows_checksum)
        if (in_postgres.rows, in_postgres.rows_checksum) != archived or manifest.rows != verification.rows:
            raise ChecksumMismatch(
                f"{family} {day}: PostgreSQL holds {in_postgres.rows} rows (checksum {in_postgres.rows_checksum}), "
                f"the archive {verification.rows} (checksum {verification.rows_checksum}); nothing dropped")
        pause_at("compared")
        mart_rows = drop_mart_rows_of_day(conn, family, day)  # by the day's event_ids, so before they are dropped
        conn.execute("SELECT raw.drop_family_day(%s, %s, %s)", (family, day, manifest.rows))
        record_retention(conn, family, day, manifest.rows, manifest.bytes, _object_url(store, verification))
        pause_at("dropped")
    pause_at("committed")
    return mart_rows


def archive_then_drop(database_url: str, store: ArchiveStore, family: str, day: date, *,
                      dry_run: bool = False) -> DayOutcome:
    """Archives one family's UTC day of raw.events, proves the archive against the rows PostgreSQL holds, then
    drops the day; finishes a day an earlier run left anywhere half way. Raises DropRefused (ChecksumMismatch)
    when the proof fails, DayLost when the day is gone from PostgreSQL without a verified archive, ArchiveError
    when the store fails: nothing is dropped then. A dry run reads only."""
    selection = DaySelection(day, {"source": (family,)})
    with psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
        if not _holds(conn, family, day):
            return _already_done(store, family, day)
        if dry_run:
            archived = verify_day(store, family, day)
            rows = postgres_day_checksum(conn, selection).rows
            return DayOutcome(family, day, rows, archived.manifest.bytes if archived.ok else None,
                              Result.WOULD_ARCHIVE_AND_DROP, _object_url(store, archived) if archived.ok else None)
        verification = _archive(conn, store, family, selection)
        try:
            mart_rows = _drop_proven(conn, store, family, selection, verification)
        except psycopg.errors.UndefinedTable:
            return _already_done(store, family, day)  # another run dropped it since _holds
    return DayOutcome(family, day, verification.rows, verification.manifest.bytes, Result.ARCHIVED_AND_DROPPED,
                      _object_url(store, verification), mart_rows=mart_rows)


def run_retention(database_url: str, store: ArchiveStore, as_of: date, policy: RetentionPolicy, *,
                  dry_run: bool = False) -> RetentionReport:
    """Every family day the policy says is expired as of `as_of`, by day then family, archived then dropped.
    Stops at the first failure (nothing after it is dropped) and raises RetentionFailed with the report."""
    with psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
        expired = expired_family_days(conn, as_of, policy)
    report = RetentionReport(as_of, dry_run)
    for family, day, rows in expired:
        try:
            report.days.append(archive_then_drop(database_url, store, family, day, dry_run=dry_run))
        except (ArchiveError, psycopg.Error) as error:
            report.days.append(DayOutcome(family, day, rows, None, Result.FAILED, error=str(error)))
            raise RetentionFailed(report) from error
    return report
