"""A test hook, and nothing else: with MONKEYTOWN_TEST_RETENTION_PAUSE_AT=<step>:<folder> set, archive-then-drop
stops at that named step, says so with the file <folder>/<step>.reached, and goes on once <folder>/<step>.go
exists (or fails after a bound), so a test can kill the process at exactly that step. Unset, it does nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_VARIABLE = "MONKEYTOWN_TEST_RETENTION_PAUSE_AT"
PAUSE_BOUND_SECONDS = 60


def pause_at(step: str) -> None:
    wanted, _, folder = os.environ.get(PAUSE_VARIABLE, "").partition(":")
    if wanted != step:
        return
    (Path(folder) / f"{step}.reached").touch()
    deadline = time.monotonic() + PAUSE_BOUND_SECONDS
    while not (Path(folder) / f"{step}.go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"paused at {step} for {PAUSE_BOUND_SECONDS}s; nobody released it")
        time.sleep(0.01)  # waiting to be killed or released, bounded by the deadline
