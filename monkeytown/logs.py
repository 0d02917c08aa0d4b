"""Logging to the console and to a file under MONKEYTOWN_HOME."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


class CachedTimeFormatter(logging.Formatter):
    """Renders the seconds part of a timestamp once per second instead of once per line."""

    _second: int = -1
    _text: str = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._second, self._text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._text},{int(record.msecs):03d}"


class ConsoleAndFileHandler(logging.Handler):
    """Formats each record once and writes it to the log file, and to stderr when `console` (two handlers format
    twice, which showed up as a tenth of the CPU of a single-event request)."""

    def __init__(self, path: Path, console: bool):
        super().__init__()
        self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (lives as long as the process)
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            if self._console or record.levelno >= logging.WARNING:
                sys.stderr.write(line)
            self._file.write(line)
        except Exception:  # a logging failure must never fail a request
            self.handleError(record)


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
