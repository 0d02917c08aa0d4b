"""The archive in a local folder: each object a read-only file, put in place by a hard link that fails if the
name is taken, so a rerun never overwrites and a crash never leaves a half-written object under its name."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from orchestration.retention.errors import ArchiveStoreError, ObjectMissing
from orchestration.retention.store_interface import ObjectInfo, check_key

TEMP_PREFIX = "."  # files being written start with a dot; they are never listed


class LocalArchiveStore:
    def __init__(self, root: Path):
        self.root = root.expanduser().resolve()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_if_absent(self, key: str, source: Path | bytes) -> bool:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f"{TEMP_PREFIX}{target.name}.{uuid.uuid4().hex}.tmp")
            try:
                _write_durably(temp, source)
                os.chmod(temp, 0o444)
                try:
                    os.link(temp, target)
                except FileExistsError:
                    return False
                _sync_directory(target.parent)
                return True
            finally:
                temp.unlink(missing_ok=True)
        except OSError as error:
            raise ArchiveStoreError(f"could not write {target}: {error}") from error

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"no object {key!r} in {self.url}") from None
        except OSError as error:
            raise ArchiveStoreError(f"could not read {path}: {error}") from error

    def head(self, key: str) -> ObjectInfo | None:
        try:
            return _info(key, self._path(key).stat())
        except FileNotFoundError:
            return None
        except OSError as error:
            raise ArchiveStoreError(f"could not stat {key!r} in {self.url}: {error}") from error

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if prefix:
            check_key(prefix.rstrip("/"))
        # the deepest folder the prefix names in full; names below it are matched as strings
        folder = self.root.joinpath(*prefix.split("/")[:-1]) if prefix else self.root
        if not folder.is_dir():
            return
        found = []
        for directory, subdirectories, files in os.walk(folder):
            subdirectories[:] = [name for name in subdirectories if not name.startswith(TEMP_PREFIX)]
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    continue
                path = Path(directory, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(_info(key, path.stat()))
        yield from sorted(found, key=lambda info: info.key)


def _write_durably(path: Path, source: Path | bytes) -> None:
    with open(path, "xb") as out:
        if isinstance(source, bytes):
            out.write(source)
        else:
            with open(source, "rb") as data:
                shutil.copyfileobj(data, out, 1024 * 1024)
        out.flush()
        os.fsync(out.fileno())


def _sync_directory(path: Path) -> None:
    """The new name survives a power cut, not only the bytes."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _info(key: str, stat: os.stat_result) -> ObjectInfo:
    return ObjectInfo(key, stat.st_size, f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}")
