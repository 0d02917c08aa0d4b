"""An order-independent checksum of a set of raw.events rows: the sha256 of the rows' own sha256 digests,
sorted. PostgreSQL computes the same over the rows it still holds (sql/day_checksum.sql), so a day may be
dropped only when both agree.

A row's digest is the sha256 of its canonical text: every column in COLUMNS order, each as
`<length in characters>:<text>` or `-` for NULL (so no two rows share a text), where timestamps are integer
microseconds since the epoch, booleans `true`/`false` and the payload its JSON text. Change it only together with
sql/day_checksum.sql, under a new CHECKSUM_METHOD."""

from __future__ import annotations

from hashlib import sha256

import pyarrow as pa
import pyarrow.compute as pc

CHECKSUM_METHOD = "sha256(sorted sha256(row)) v1"
DIGEST_BYTES = 32
_DIGEST_TYPE = pa.binary(DIGEST_BYTES)


def _as_text(array: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(array.type):
        array = pc.cast(array, pa.int64())
    return array if pa.types.is_string(array.type) else pc.cast(array, pa.string())


def _framed(array: pa.Array) -> pa.Array:
    text = _as_text(array)
    length = pc.cast(pc.utf8_length(text), pa.string())
    return pc.fill_null(pc.binary_join_element_wise(length, text, ":"), "-")


def canonical_rows(batch: pa.RecordBatch) -> pa.Array:
    """One canonical text per row (see the module's docstring)."""
    return pc.binary_join_element_wise(*(_framed(column) for column in batch.columns), "")


def row_digests(batch: pa.RecordBatch) -> pa.Array:
    """The sha256 of each row's canonical text, as fixed-size binary."""
    texts = canonical_rows(batch)
    if len(texts) == 0:
        return pa.array([], type=_DIGEST_TYPE)
    offsets = memoryview(texts.buffers()[1]).cast("i")
    data = memoryview(texts.buffers()[2] or b"")
    digests = bytearray()
    for i in range(texts.offset, texts.offset + len(texts)):
        digests += sha256(data[offsets[i]:offsets[i + 1]]).digest()
    return pa.FixedSizeBinaryArray.from_buffers(_DIGEST_TYPE, len(texts), [None, pa.py_buffer(bytes(digests))])


class RowsChecksum:
    """Fed batch by batch, in any order and batching; `hexdigest()` depends only on the set of rows."""

    def __init__(self) -> None:
        self._digests: list[pa.Array] = []
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self._digests.append(row_digests(batch))
        self.rows += batch.num_rows

    def hexdigest(self) -> str:
        if not self.rows:
            return sha256(b"").hexdigest()
        digests = pa.concat_arrays(self._digests)
        ordered = pc.take(digests, pc.sort_indices(digests))
        data = memoryview(ordered.buffers()[1])[ordered.offset * DIGEST_BYTES:][:self.rows * DIGEST_BYTES]
        return sha256(data).hexdigest()
