"""What every archive store offers, whatever holds the objects: the interface, an object's description, the
bounds on its calls and the rule for keys.

Objects are immutable: `put_if_absent` never replaces an object, so a rerun can never overwrite what an earlier
run archived. Keys are relative to the store's root (`game/2026/01/31/manifest.json`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # an opaque version tag (S3's ETag; locally derived from the file's identity), not a content hash


@dataclass(frozen=True)
class StoreLimits:
    """The bounds on every S3 call: a hung store becomes an ArchiveStoreError within seconds, not a hang."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 3  # botocore's standard retry mode, first attempt included


class ArchiveStore(Protocol):
    url: str

    def put_if_absent(self, key: str, source: Path | bytes) -> bool:
        """Stores `source` (a file or bytes) at `key` unless an object is already there. True: written;
        False: an object existed and was left as it was."""

    def get(self, key: str) -> bytes:
        """The object's bytes; ObjectMissing if there is none."""

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size and etag, or None if there is none."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, in key order."""


def check_key(key: str) -> str:
    """A relative key of non-empty, non-dot segments: it can never escape the store's root."""
    parts = key.split("/")
    if not key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"archive key {key!r} must be a relative path of non-empty segments, without . or ..")
    return key
