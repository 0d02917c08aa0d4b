"""Archiving one day of one family: the data object first, the manifest last, then both read back and proved.

Idempotent and crash-safe without ever overwriting: a verified day is skipped; a day a crash left with its data
object but no manifest, or with a manifest but no data object, is finished from the same rows (the data object's
name is its content's hash, so the same rows find the same name); anything else already in the store that differs
from what these rows make raises, leaving every object as it was."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

import pyarrow as pa

from orchestration.retention.checksum import CHECKSUM_METHOD
from orchestration.retention.columns import ARROW_SCHEMA, SCHEMA_VERSION
from orchestration.retention.day_file import COMPRESSION, WrittenDayFile, scan_day_file, write_day_file
from orchestration.retention.errors import ArchiveConflict, ArchiveVerificationError, ObjectMissing
from orchestration.retention.layout import check_family, data_object_key, data_object_name, manifest_key
from orchestration.retention.manifest import Manifest
from orchestration.retention.store import ArchiveStore


class DayState(StrEnum):
    VERIFIED = "verified"  # manifest and data object agree, read back from the store
    NO_MANIFEST = "no_manifest"  # not archived, or a crash came before the manifest (a data object may be there)
    DATA_MISSING = "data_missing"  # a manifest whose data object is not there
    MISMATCH = "mismatch"  # the data object or the manifest differs from what the manifest promises


class Outcome(StrEnum):
    ARCHIVED = "archived"  # written by this call
    FINISHED = "finished"  # a day an earlier run left half done, completed by this call
    ALREADY_ARCHIVED = "already_archived"  # verified before this call; nothing was written


@dataclass(frozen=True)
class DayVerification:
    family: str
    day: date
    state: DayState
    problems: tuple[str, ...] = ()
    manifest: Manifest | None = None
    rows: int | None = None  # counted in the data object read back
    rows_checksum: str | None = None  # recomputed from the data object read back

    @property
    def ok(self) -> bool:
        return self.state is DayState.VERIFIED


@dataclass(frozen=True)
class DayArchive:
    outcome: Outcome
    verification: DayVerification

    @property
    def manifest(self) -> Manifest:
        return self.verification.manifest


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _get_or_none(store: ArchiveStore, key: str) -> bytes | None:
    try:
        return store.get(key)
    except ObjectMissing:
        return None


def _data_problems(manifest: Manifest, data: bytes) -> tuple[tuple[str, ...], int | None, str | None]:
    """What differs between the data object's bytes and the manifest, with the rows and checksum read back."""
    if len(data) != manifest.bytes or hashlib.sha256(data).hexdigest() != manifest.sha256:
        return (f"data object {manifest.data_object} is {len(data)} bytes with another sha256 than the manifest's "
                f"{manifest.bytes} bytes",), None, None
    if manifest.schema_version != SCHEMA_VERSION:
        return (f"written with schema version {manifest.schema_version}; this code reads {SCHEMA_VERSION}",), None, None
    try:
        schema, summary = scan_day_file(data)
    except pa.ArrowException as error:
        return (f"data object {manifest.data_object} is not readable Parquet: {error}",), None, None
    expected = (manifest.rows, manifest.rows_checksum, manifest.min_occurred_at, manifest.max_occurred_at)
    found = (summary.rows, summary.rows_checksum, summary.min_occurred_at, summary.max_occurred_at)
    problems = [] if schema.equals(ARROW_SCHEMA) else [f"unexpected schema {schema}"]
    problems += [f"{name}: manifest {want}, data object {got}"
                 for name, want, got in zip(("rows", "rows_checksum", "min_occurred_at", "max_occurred_at"),
                                            expected, found, strict=True) if want != got]
    return tuple(problems), summary.rows, summary.rows_checksum


def verify_day(store: ArchiveStore, family: str, day: date) -> DayVerification:
    """Reads the day's manifest and data object back from the store and checks bytes, sha256, schema, row count,
    rows checksum and time range against each other."""
    raw = _get_or_none(store, manifest_key(family, day))
    if raw is None:
        return DayVerification(family, day, DayState.NO_MANIFEST)
    try:
        manifest = Manifest.from_json(raw)
        if (manifest.family, manifest.day) != (family, day):
            raise ValueError(f"it describes {manifest.family} on {manifest.day}")
        key = data_object_key(family, day, manifest.data_object)
    except ValueError as error:
        return DayVerification(family, day, DayState.MISMATCH, (f"manifest {manifest_key(family, day)}: {error}",))
    data = _get_or_none(store, key)
    if data is None:
        return DayVerification(family, day, DayState.DATA_MISSING, (f"data object {key} is missing",), manifest)
    problems, rows, checksum = _data_problems(manifest, data)
    state = DayState.MISMATCH if problems else DayState.VERIFIED
    return DayVerification(family, day, state, problems, manifest, rows, checksum)


def _manifest_for(family: str, day: date, written: WrittenDayFile, created_at: datetime) -> Manifest:
    summary = written.summary
    return Manifest(family=family, day=day, data_object=data_object_name(written.sha256), rows=summary.rows,
                    bytes=written.bytes, sha256=written.sha256, rows_checksum=summary.rows_checksum,
                    checksum_method=CHECKSUM_METHOD, schema_version=SCHEMA_VERSION,
                    min_occurred_at=summary.min_occurred_at, max_occurred_at=summary.max_occurred_at,
                    created_at=created_at, compression=COMPRESSION)


def _put_data_object(store: ArchiveStore, manifest: Manifest, written: WrittenDayFile) -> bool:
    """True if this call stored it; False if the same bytes were already there (an earlier run's)."""
    key = data_object_key(manifest.family, manifest.day, manifest.data_object)
    if store.put_if_absent(key, written.path):
        return True
    if hashlib.sha256(store.get(key)).hexdigest() != written.sha256:
        raise ArchiveConflict(f"{key} already exists with other bytes than these rows make; it was left as it was")
    return False


def _put_manifest(store: ArchiveStore, manifest: Manifest) -> bool:
    key = manifest_key(manifest.family, manifest.day)
    if store.put_if_absent(key, manifest.to_json()):
        return True
    stored = Manifest.from_json(store.get(key))
    if not stored.describes_same_data(manifest):
        raise ArchiveConflict(f"{key} already exists and describes {stored.data_object} ({stored.rows} rows), "
                              f"not these rows' {manifest.data_object} ({manifest.rows} rows); it was left as it was")
    return False


def archive_day(store: ArchiveStore, family: str, day: date, rows: Iterable[Sequence], *,
                work_dir: Path | None = None, clock: Callable[[], datetime] = _utc_now) -> DayArchive:
    """Archives one UTC day of one family: `rows` are tuples in COLUMNS order, ordered by (occurred_at, event_id)
    (as `stream_day_rows` yields them; not consumed when the day is already verified). Returns the day verified
    as read back from the store; raises ArchiveError (and the day must not be dropped) otherwise.

    The caller may drop the day's rows only when `result.verification.rows_checksum` and `.rows` equal
    `postgres_day_checksum` over the same selection."""
    check_family(family)
    before = verify_day(store, family, day)
    if before.ok:
        return DayArchive(Outcome.ALREADY_ARCHIVED, before)
    if before.state is DayState.MISMATCH:
        raise ArchiveVerificationError(f"{family} {day}: the archive holds a day that does not verify; it is never "
                                       f"overwritten, move it aside by hand: {'; '.join(before.problems)}")
    with tempfile.TemporaryDirectory(prefix="monkeytown-archive-", dir=work_dir) as temp:
        written = write_day_file(rows, day, Path(temp) / "events.parquet")
        manifest = _manifest_for(family, day, written, clock())
        if before.state is DayState.DATA_MISSING and not before.manifest.describes_same_data(manifest):
            raise ArchiveConflict(f"{family} {day}: the stored manifest names {before.manifest.data_object}, which is "
                                  f"missing, and these rows make {manifest.data_object}; nothing was written")
        data_written = _put_data_object(store, manifest, written)
        manifest_written = _put_manifest(store, manifest)
    after = verify_day(store, family, day)
    if not after.ok:
        raise ArchiveVerificationError(f"{family} {day} does not verify after archiving: {'; '.join(after.problems)}")
    fresh = data_written and manifest_written and before.state is DayState.NO_MANIFEST
    return DayArchive(Outcome.ARCHIVED if fresh else Outcome.FINISHED, after)
