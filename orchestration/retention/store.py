"""The archive store at a URL: a local folder (`file://<dir>`, the default `file://$MONKEYTOWN_HOME/archive`) or S3
(`s3://bucket/prefix`), behind one interface (store_interface.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from orchestration.retention.store_interface import ArchiveStore, ObjectInfo, StoreLimits, check_key

if TYPE_CHECKING:
    from monkeytown.settings import Settings

__all__ = ["ArchiveStore", "ObjectInfo", "StoreLimits", "archive_store_for", "check_key", "open_archive_store"]


def open_archive_store(url: str, *, s3_endpoint_url: str | None = None, s3_client: Any = None,
                       limits: StoreLimits | None = None) -> ArchiveStore:
    """The store at `url` (settings' `archive_url`). For S3: `s3_endpoint_url` (settings' `s3_endpoint_url`)
    for S3-compatible stores, standard boto3 credentials; `s3_client` uses a client made elsewhere instead
    (such as dagster-aws's `S3Resource(...).get_client()`, whose own retries and timeouts then apply)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from orchestration.retention.local_store import LocalArchiveStore

        return LocalArchiveStore(Path(parsed.netloc + parsed.path))
    if parsed.scheme == "s3":
        # boto3 is imported only by an S3 archive: a local one works with nothing else installed
        from orchestration.retention.s3_store import S3ArchiveStore, bounded_s3_client

        if not parsed.netloc:
            raise ValueError(f"archive URL {url!r} names no bucket; use s3://bucket/prefix")
        client = s3_client or bounded_s3_client(s3_endpoint_url, limits or StoreLimits())
        return S3ArchiveStore(parsed.netloc, parsed.path.strip("/"), client)
    raise ValueError(f"archive URL {url!r} is neither file://<dir> nor s3://bucket/prefix")


def archive_store_for(settings: Settings, s3_client: Any = None) -> ArchiveStore:
    """The store MONKEYTOWN_ARCHIVE_URL and MONKEYTOWN_S3_ENDPOINT_URL name, as read at start-up."""
    return open_archive_store(settings.archive_url, s3_endpoint_url=settings.s3_endpoint_url, s3_client=s3_client)
