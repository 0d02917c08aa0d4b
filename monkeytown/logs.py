"""Logging to the console and to a file under MONKEYTOWN_HOME, rotated at UTC midnight (monkeytown.log_rotation)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from monkeytown.log_rotation import DailyFile

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


class CachedTimeFormatter(logging.Formatter):
    """Renders the seconds part of a timestamp once per second instead of once per line, in UTC like the days the
    files are rotated by."""

    _second: int = -1
    _text: str = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._second, self._text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        return f"{self._text},{int(record.msecs):03d}"


class ConsoleAndFileHandler(logging.Handler):
    """Formats each record once and writes it to the log file, and to stderr when `console` (two handlers format
    twice, which showed up as a tenth of the CPU of a single-event request). The file turns into its dated name
    when a record's UTC day (from record.created) is past the file's day; see DailyFile for several processes."""

    def __init__(self, path: Path, console: bool, clock: Callable[[], float] = time.time):
        super().__init__()
        self._file = DailyFile(path, clock)
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            if self._console or record.levelno >= logging.WARNING:
                sys.stderr.write(line)
            # one write(2) per record: O_APPEND keeps a whole record together beside the other processes' lines
            self._file.write(line.encode("utf-8", "backslashreplace"), record.created)
        except Exception:  # a logging failure must never fail a request
            self.handleError(record)

    def close(self) -> None:
        with self.lock:
            self._file.close()
        super().close()


def configure_logging(home: Path, level: int = logging.INFO, console: bool = True) -> Path:
    """Sends every monkeytown log line to $MONKEYTOWN_HOME/logs/monkeytown.log, and to stderr when `console`
    (warnings and errors always)."""
    log_dir = home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "monkeytown.log"
    root = logging.getLogger("monkeytown")
    if not any(isinstance(h, ConsoleAndFileHandler) for h in root.handlers):
        handler = ConsoleAndFileHandler(path, console)
        handler.setFormatter(CachedTimeFormatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    # the lines name no source file, thread or process name: skipping those lookups halves a record's cost
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    return path
