"""Reading archived days back: the days the archive holds, and one day as an Arrow table or as row tuples in
COLUMNS order (what `monkeytown archive restore` loads into a queryable table)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.retention.errors import ArchiveError, ArchiveVerificationError, ObjectMissing
from orchestration.retention.layout import check_family, data_object_key, day_of_manifest_key, manifest_key
from orchestration.retention.manifest import Manifest
from orchestration.retention.store import ArchiveStore


def archived_days(store: ArchiveStore, family: str | None = None) -> list[Manifest]:
    """The manifest of every archived day (of one family, or all), by family and day. A manifest only says a day
    was stored; `verify_day` proves it."""
    prefix = f"{check_family(family)}/" if family else ""
    manifests = []
    for info in store.list(prefix):
        if day_of_manifest_key(info.key) is not None:
            manifests.append(Manifest.from_json(store.get(info.key)))
    return sorted(manifests, key=lambda manifest: (manifest.family, manifest.day))


def read_day(store: ArchiveStore, family: str, day: date) -> pa.Table:
    """The archived day as an Arrow table (schema of columns.py), after checking its bytes against the manifest's
    sha256; ArchiveError if the day is not archived or does not match."""
    try:
        manifest = Manifest.from_json(store.get(manifest_key(family, day)))
        key = data_object_key(family, day, manifest.data_object)
        data = store.get(key)
    except ObjectMissing as error:
        raise ArchiveError(f"{family} {day} is not archived in {store.url}: {error}") from error
    except ValueError as error:
        raise ArchiveVerificationError(f"{family} {day}: unreadable manifest: {error}") from error
    if hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise ArchiveVerificationError(f"{key} does not match the sha256 of its manifest")
    return pq.read_table(pa.BufferReader(data))


def iter_day_rows(store: ArchiveStore, family: str, day: date, batch_rows: int = 10_000) -> Iterator[tuple]:
    """The archived day's rows as tuples in COLUMNS order (timestamps aware datetimes in UTC, payload JSON text),
    converted to Python a batch at a time."""
    for batch in read_day(store, family, day).to_batches(max_chunksize=batch_rows):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)
