"""A day's manifest: what its data object holds and how to prove it. Written last, so its presence means the
data object it names was completely stored."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime

MANIFEST_FORMAT = "monkeytown.archive.day/1"


@dataclass(frozen=True)
class Manifest:
    family: str
    day: date
    data_object: str  # its name in the day's folder
    rows: int
    bytes: int
    sha256: str  # of the data object's bytes
    rows_checksum: str  # see checksum.py; PostgreSQL computes the same over the rows it holds
    checksum_method: str
    schema_version: int
    min_occurred_at: datetime | None
    max_occurred_at: datetime | None
    created_at: datetime
    compression: str = "zstd"
    format: str = MANIFEST_FORMAT

    def to_json(self) -> bytes:
        fields = {name: _plain(value) for name, value in asdict(self).items()}
        return json.dumps(fields, indent=2, sort_keys=True).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """A manifest as stored; ValueError if it is not one."""
        try:
            fields = json.loads(raw)
            if fields.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"unknown manifest format {fields.get('format')!r}")
            return cls(**{
                **fields,
                "day": date.fromisoformat(fields["day"]),
                "min_occurred_at": _time(fields["min_occurred_at"]),
                "max_occurred_at": _time(fields["max_occurred_at"]),
                "created_at": _time(fields["created_at"]),
            })
        except (TypeError, KeyError, AttributeError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"not a manifest: {error}") from error

    def describes_same_data(self, other: Manifest) -> bool:
        """The same data object and content; created_at may differ."""
        return (self.data_object, self.sha256, self.rows, self.rows_checksum, self.bytes) == (
            other.data_object, other.sha256, other.rows, other.rows_checksum, other.bytes)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value.isoformat() if isinstance(value, date) else value


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
