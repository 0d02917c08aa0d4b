"""Logging to the console and to a file under MONKEYTOWN_HOME."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def configure_logging(home: Path, level: int = logging.INFO) -> Path:
    """Sends every monkeytown log line to stderr and to $MONKEYTOWN_HOME/logs/monkeytown.log."""
    log_dir = home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "monkeytown.log"
    root = logging.getLogger("monkeytown")
    if not any(getattr(h, "_monkeytown", False) for h in root.handlers):
        for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(path, encoding="utf-8")):
            handler.setFormatter(logging.Formatter(FORMAT))
            handler._monkeytown = True
            root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return path
