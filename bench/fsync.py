"""The disk's flush rate: 8 KiB writes each followed by fdatasync, as PostgreSQL flushes its WAL on commit."""

from __future__ import annotations

import os
import time
from pathlib import Path

BLOCK = b"\x5a" * 8192
BLOCKS = 128  # the probe file is 1 MiB, preallocated, so each flush writes data rather than file size


def fsync_rates(directory: Path, samples: int, seconds: float) -> list[float]:
    """Flushes per second, one figure per sample of `seconds`."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, BLOCK * BLOCKS)
        os.fsync(fd)
        rates = []
        for _ in range(samples):
            count, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                os.pwrite(fd, BLOCK, (count % BLOCKS) * len(BLOCK))
                os.fdatasync(fd)
                count += 1
            rates.append(count / elapsed)
        return rates
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
