"""Log files under $MONKEYTOWN_HOME/logs last written before the cutoff. monkeytown.log (monkeytown.logs) and
api.log, dagster.log and simulator.log (the supervisor's children) are rotated at UTC midnight into dated files
(monkeytown.log_rotation), pipeline.log is one file per UTC day: those dated files are what goes. A file some
process holds open (as /proc tells, on Linux) is never removed, however old."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from orchestration.retention.housekeeping_outcome import LOG_FILES, PruneOutcome

PROC = Path("/proc")


def logs_dir(home: Path) -> Path:
    """Where monkeytown.logs and the supervisor write (monkeytown.logs.configure_logging names it)."""
    return Path(home).resolve() / "logs"


def open_files(proc: Path = PROC) -> set[tuple[int, int]] | None:
    """(device, inode) of every file a process this user can see holds open; None where /proc does not say
    (not Linux): then the mtime alone decides."""
    if not proc.is_dir():
        return None
    held = set()
    for fd_dir in proc.glob("[0-9]*/fd"):
        try:
            descriptors = list(fd_dir.iterdir())
        except OSError:  # another user's process, or one that just exited
            continue
        for descriptor in descriptors:
            try:
                target = descriptor.stat()
            except OSError:
                continue
            held.add((target.st_dev, target.st_ino))
    return held


def expired_log_files(folder: Path, cutoff: datetime, held: set[tuple[int, int]] | None) -> list[tuple[Path, int]]:
    """(file, size) of each file under `folder` last modified before `cutoff` and held open by no process."""
    if not folder.is_dir():
        return []
    expired = []
    for path in sorted(folder.rglob("*")):
        try:
            status = path.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(status.st_mode):  # folders, and links (their target is not ours to judge)
            continue
        last_written = datetime.fromtimestamp(status.st_mtime, UTC)
        if last_written < cutoff and (held is None or (status.st_dev, status.st_ino) not in held):
            expired.append((path, status.st_size))
    return expired


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:  # removed since it was listed
        return False
    return True


def prune_log_files(home: Path, cutoff: datetime, *, dry_run: bool = False) -> PruneOutcome:
    """Log files last written before `cutoff` that no running process holds open."""
    expired = expired_log_files(logs_dir(home), cutoff, open_files())
    if dry_run:
        return PruneOutcome(LOG_FILES, len(expired), sum(size for _, size in expired), dry_run=True)
    removed = [size for path, size in expired if _unlink(path)]
    return PruneOutcome(LOG_FILES, len(removed), sum(removed))
