"""A day's Parquet file: written from a stream of rows without holding the day in memory, and scanned back.

The file is deterministic for a given set of rows: rows must arrive ordered by (occurred_at, event_id) (checked,
never sorted here), row groups hold a fixed number of rows whatever the input's batching, zstd, the explicit
schema of columns.py."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.retention.checksum import RowsChecksum
from orchestration.retention.columns import ARROW_SCHEMA, batch_from_rows
from orchestration.retention.errors import InvalidRows

COMPRESSION = "zstd"
ROW_GROUP_ROWS = 128 * 1024  # fixed, so the bytes do not depend on how the caller batched the rows
CONVERT_ROWS = 10_000  # rows turned from Python tuples into Arrow at a time
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DayFileSummary:
    rows: int
    rows_checksum: str
    min_occurred_at: datetime | None
    max_occurred_at: datetime | None


@dataclass(frozen=True)
class WrittenDayFile:
    path: Path
    bytes: int
    sha256: str
    summary: DayFileSummary


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


class _DayTally:
    """Row count, checksum, time range, and the order and day checks, batch after batch."""

    def __init__(self, day: date | None = None):
        self.checksum = RowsChecksum()
        self.low: int | None = None
        self.high: int | None = None
        self.last_key: tuple[int, str] | None = None
        start = None if day is None else datetime.combine(day, time(), UTC)
        self.bounds = None if start is None else (_micros(start), _micros(start + timedelta(days=1)))

    def add(self, batch: pa.RecordBatch, check: bool = False) -> None:
        if batch.num_rows == 0:
            return
        occurred = pc.cast(batch.column("occurred_at"), pa.int64())
        extremes = pc.min_max(occurred)
        low, high = extremes["min"], extremes["max"]
        if check:
            self._check_day(low.as_py(), high.as_py())
            self._check_order(occurred, batch.column("event_id"))
        self.low = low.as_py() if self.low is None else min(self.low, low.as_py())
        self.high = high.as_py() if self.high is None else max(self.high, high.as_py())
        self.checksum.add(batch)

    def _check_day(self, low: int, high: int) -> None:
        if self.bounds and not (self.bounds[0] <= low and high < self.bounds[1]):
            raise InvalidRows(f"rows from {_moment(low)} to {_moment(high)} are not all within the UTC day "
                              f"starting {_moment(self.bounds[0])}")

    def _check_order(self, occurred: pa.Array, event_ids: pa.Array) -> None:
        first = (occurred[0].as_py(), event_ids[0].as_py())
        if self.last_key is not None and not self.last_key < first:
            raise InvalidRows(f"rows are not strictly ordered by (occurred_at, event_id): {first[1]!r} follows "
                              f"{self.last_key[1]!r}; select them ORDER BY occurred_at, event_id COLLATE \"C\"")
        if len(occurred) > 1:
            later = pc.greater(occurred[1:], occurred[:-1])
            tied_then_later = pc.and_(pc.equal(occurred[1:], occurred[:-1]), pc.greater(event_ids[1:], event_ids[:-1]))
            if not pc.all(pc.or_(later, tied_then_later)).as_py():
                raise InvalidRows("rows are not strictly ordered by (occurred_at, event_id) (or an event_id repeats);"
                                  " select them ORDER BY occurred_at, event_id COLLATE \"C\"")
        self.last_key = (occurred[-1].as_py(), event_ids[-1].as_py())

    def summary(self) -> DayFileSummary:
        return DayFileSummary(self.checksum.rows, self.checksum.hexdigest(), _moment(self.low), _moment(self.high))


def _batches(rows: Iterable[Sequence]) -> Iterator[pa.RecordBatch]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, CONVERT_ROWS)):
        yield batch_from_rows(chunk)


def _row_groups(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    """Tables of exactly `size` rows (the last one fewer), whatever the sizes of the incoming batches."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(pending, schema=ARROW_SCHEMA)
            yield table.slice(0, size)
            pending, count = table.slice(size).to_batches(), count - size
    if count:
        yield pa.Table.from_batches(pending, schema=ARROW_SCHEMA)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        while block := data.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def write_day_file(rows: Iterable[Sequence], day: date, path: Path) -> WrittenDayFile:
    """Writes the rows (tuples in COLUMNS order, ordered by (occurred_at, event_id), all within `day` UTC) to a
    Parquet file at `path`; InvalidRows if they are not."""
    tally = _DayTally(day)

    def checked(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            tally.add(batch, check=True)
            yield batch

    with pq.ParquetWriter(path, ARROW_SCHEMA, compression=COMPRESSION) as writer:
        for group in _row_groups(checked(_batches(rows)), ROW_GROUP_ROWS):
            writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
    return WrittenDayFile(path, path.stat().st_size, _file_sha256(path), tally.summary())


def scan_day_file(data: bytes) -> tuple[pa.Schema, DayFileSummary]:
    """The schema and the summary of a day's Parquet bytes, batch by batch; pa.ArrowException if unreadable."""
    parquet = pq.ParquetFile(pa.BufferReader(data))
    tally = _DayTally()
    for batch in parquet.iter_batches(batch_size=CONVERT_ROWS * 5):
        tally.add(batch)
    return parquet.schema_arrow, tally.summary()
