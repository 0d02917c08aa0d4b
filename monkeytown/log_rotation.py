"""Daily log files under $MONKEYTOWN_HOME/logs: each UTC day's lines end in a closed file named for that day
(monkeytown.log's of 2026-11-29 in monkeytown.2026-11-29.log), which housekeeping prunes once it is old; the live
file keeps its fixed name, so `tail -f` and the banner's path stay right."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

DAY_SECONDS = 86400
READ_CHUNK = 65536
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def next_midnight(moment: float) -> float:
    """The UTC midnight after `moment` (a Unix timestamp): UTC days have no DST, so a day is 86400 s."""
    return float((int(moment) // DAY_SECONDS + 1) * DAY_SECONDS)


def dated_name(path: Path, moment: float) -> Path:
    """api.log of the UTC day of `moment` -> api.2026-11-29.log: the .log suffix stays last, so editors and `*.log`
    globs still treat the file as a log."""
    day = datetime.fromtimestamp(moment, UTC).date().isoformat()
    return path.with_name(f"{path.stem}.{day}{path.suffix}")


def free_dated_name(path: Path, moment: float) -> Path:
    """dated_name, or api.2026-11-29.1.log (.2, …) when that is taken: a rotation never overwrites a file."""
    dated = dated_name(path, moment)
    numbered = (dated.with_name(f"{dated.stem}.{n}{dated.suffix}") for n in itertools.count(1))
    return next(name for name in itertools.chain([dated], numbered) if not name.exists())


@contextlib.contextmanager
def directory_lock(folder: Path) -> Iterator[None]:
    """Excludes every other rotation in `folder`, in this process or another (a fresh descriptor each time, so
    forked processes do not share it). Held only for a stat, a rename and an open: the wait is that short."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):  # a short write (a signal, a full disk) must not drop the rest of the line
        data = data[written:]
        written = os.write(fd, data)


class DailyFile:
    """An append-only file that becomes its dated name at the first write of a later UTC day. Several processes may
    append to the same path (the gunicorn workers and `monkeytown up` share monkeytown.log): under a lock on the
    folder, only the one that finds the path still naming the file it opened renames it; the others just reopen the
    path. A process keeps writing to the file it opened until it rotates, so a late line lands in the dated file,
    never nowhere. Not thread-safe: the caller serializes writes (logging.Handler's lock, ChildOutput's)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        self.path = path
        self._fd, self._identity = self._open()
        self.day_end = next_midnight(self._first_moment(clock()))

    def _open(self) -> tuple[int, tuple[int, int]]:
        fd = os.open(self.path, _APPEND, 0o666)
        status = os.fstat(fd)
        return fd, (status.st_dev, status.st_ino)

    def _first_moment(self, now: float) -> float:
        """A file left from an earlier day (the platform was down over midnight) keeps that day's name."""
        status = os.fstat(self._fd)
        return min(status.st_mtime, now) if status.st_size else now

    def write(self, data: bytes, moment: float) -> None:
        """`data` (whole lines) as of `moment`, a Unix timestamp: the one float compare every line pays."""
        if moment >= self.day_end:
            self.rotate_or_postpone(moment)
        _write_all(self._fd, data)

    def rotate_or_postpone(self, moment: float) -> None:
        """A rotation that fails (a full disk, a permission) is tried again a minute later; meanwhile the lines go
        on to the file already open, so none is lost to it."""
        try:
            self.rotate(moment)
        except OSError as error:
            self.day_end = moment + 60
            print(f"monkeytown: warning: cannot rotate {self.path}: {error}", file=sys.stderr, flush=True)

    def rotate(self, moment: float) -> None:
        """Retires the day's file under its dated name (unless another process did, or it is empty) and opens the
        path afresh; later lines go there."""
        with directory_lock(self.path.parent):
            if self._still_live() and os.fstat(self._fd).st_size:
                os.rename(self.path, free_dated_name(self.path, self.day_end - DAY_SECONDS))
            fd, identity = self._open()
        os.close(self._fd)
        self._fd, self._identity = fd, identity
        self.day_end = next_midnight(moment)

    def _still_live(self) -> bool:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (status.st_dev, status.st_ino) == self._identity

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ChildOutput:
    """One log file fed by the stdout and stderr pipes of the children that write it (dagster.log has two), written
    and rotated daily by the supervisor alone. A child's own descriptor on the file would survive a rename, and
    copy-then-truncate loses what the child writes between the copy and the truncate; through a pipe the child keeps
    its descriptor across every rotation and no line is lost. The relay drains the pipe whatever happens to the
    file, so a full disk never blocks a child."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._file: DailyFile | None = DailyFile(path, clock)
        self._relays: list[threading.Thread] = []
        self._failing = False

    def feed_from(self, pipe, name: str) -> None:
        """Relays `pipe` (a child's stdout, stderr merged) to the file, in a thread, until the child's end closes."""
        self._relays = [relay for relay in self._relays if relay.is_alive()]
        relay = threading.Thread(target=self._relay, args=(pipe,), name=f"monkeytown-{name}-output", daemon=True)
        relay.start()
        self._relays.append(relay)

    def _relay(self, pipe) -> None:
        pending, fd = b"", pipe.fileno()
        with pipe:
            while chunk := os.read(fd, READ_CHUNK):
                pending += chunk
                # whole lines only, so two children writing the same file never split each other's lines
                cut = pending.rfind(b"\n") + 1
                if not cut and len(pending) >= READ_CHUNK:  # a line longer than a chunk goes out in pieces
                    cut = len(pending)
                if cut:
                    self.write(pending[:cut])
                    pending = pending[cut:]
        if pending:
            self.write(pending)

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._file is None:  # closed: what a straggler still sends is dropped, the pipe still drained
                return
            try:
                self._file.write(data, self._clock())
                self._failing = False
            except OSError as error:
                self._warn_once(error)

    def rotate_if_due(self) -> None:
        """Rotates an idle file at midnight too, so each day has its own file even when nothing wrote since."""
        with self._lock:
            now = self._clock()
            if self._file is not None and now >= self._file.day_end:
                self._file.rotate_or_postpone(now)

    def _warn_once(self, error: OSError) -> None:
        if not self._failing:
            print(f"monkeytown: warning: cannot write {self.path}: {error}", file=sys.stderr, flush=True)
        self._failing = True

    def close(self, timeout: float) -> None:
        """After the children have exited: waits up to `timeout` seconds for their last lines, then closes."""
        deadline = time.monotonic() + timeout
        for relay in self._relays:
            relay.join(max(deadline - time.monotonic(), 0))
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
