"""The archive's columns: raw.events as an explicit Arrow schema (timestamps in microseconds, UTC; the payload as
JSON text), and row tuples in that order turned into Arrow batches."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from orchestration.retention.errors import InvalidRows

#: Bumped whenever ARROW_SCHEMA changes; every manifest records the version its data object was written with.
SCHEMA_VERSION = 1

_TIMESTAMP = pa.timestamp("us", tz="UTC")
ARROW_SCHEMA = pa.schema([
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("contract_version", pa.int32(), nullable=False),
    pa.field("occurred_at", _TIMESTAMP, nullable=False),
    pa.field("client_timestamp", _TIMESTAMP),
    pa.field("sent_at", _TIMESTAMP),
    pa.field("received_at", _TIMESTAMP, nullable=False),
    pa.field("session_id", pa.string()),
    pa.field("player_id", pa.string()),
    pa.field("is_anonymous", pa.bool_(), nullable=False),
    pa.field("game_id", pa.string()),
    pa.field("source", pa.string(), nullable=False),
    pa.field("payload", pa.string(), nullable=False),  # the jsonb as PostgreSQL prints it (payload::text)
])
COLUMNS: tuple[str, ...] = tuple(ARROW_SCHEMA.names)


def batch_from_rows(rows: Sequence[Sequence]) -> pa.RecordBatch:
    """Rows as tuples in COLUMNS order (what a cursor over `SELECT <COLUMNS>` yields); timestamps aware
    datetimes (naive ones are taken as UTC), the payload JSON text."""
    width = len(COLUMNS)
    if any(len(row) != width for row in rows):
        raise InvalidRows(f"every row must hold the {width} columns {', '.join(COLUMNS)}, in that order")
    values = list(zip(*rows, strict=True)) if rows else [()] * width
    arrays = [_array(field, column) for field, column in zip(ARROW_SCHEMA, values, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)


def _array(field: pa.Field, values: Sequence) -> pa.Array:
    try:
        array = pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        hint = " (select payload::text: the archive keeps the JSON text PostgreSQL prints)" \
            if field.name == "payload" else ""
        raise InvalidRows(f"column {field.name}: {error}{hint}") from error
    if not field.nullable and array.null_count:
        raise InvalidRows(f"column {field.name} holds {array.null_count} null(s); it is never null in raw.events")
    return array
