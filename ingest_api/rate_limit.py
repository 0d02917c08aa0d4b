"""Requests allowed per write key (MONKEYTOWN_RATE_LIMIT, Flask-Limiter syntax such as `1000/second` or
`10/second;50000/day`): fixed windows counted in memory shared by every gunicorn worker, or, with
MONKEYTOWN_REDIS_URL, in Redis (ingest_api/redis_counters.py), shared by every API process on every host."""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import re
import time
from dataclasses import dataclass
from typing import Protocol

from monkeytown.settings import SettingsError, describe_redis

SLOTS = 1024
_RULE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day|month|year)s?\s*$", re.IGNORECASE)
_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 30 * 86400, "year": 360 * 86400}


@dataclass(frozen=True)
class Limit:
    amount: int
    seconds: int
    text: str


def parse_limits(text: str, setting: str = "MONKEYTOWN_RATE_LIMIT") -> tuple[Limit, ...]:
    """`[count] [/|per] [n] [second|minute|hour|day|month|year]`, several separated by `;`, `,` or `|`."""
    rules = []
    for part in re.split(r"[;,|]", text):
        match = _RULE.match(part)
        if not match or int(match[1]) < 1:
            raise SettingsError(
                f"{setting}={text!r} is not a rate limit; use Flask-Limiter syntax such as "
                "1000/second or 10/second;50000/day"
            )
        multiple = int(match[2] or 1)
        rules.append(Limit(int(match[1]), multiple * _SECONDS[match[3].lower()], part.strip()))
    return tuple(rules)


class WindowCounters:
    """Per (key, limit) slot: the current window's number and its count, in shared memory under one lock.

    Created in the gunicorn master before it forks, so all workers count together; a process that is not
    forked from it (tests, a single process) simply has its own."""

    def __init__(self, slots: int = SLOTS):
        context = multiprocessing.get_context("fork")
        self._cells = context.RawArray("q", slots * 3)  # key fingerprint, window number, count
        self._lock = context.Lock()
        self._slots = slots

    def _slot(self, fingerprint: int, window: int) -> int:
        """The cell index of the fingerprint's counter, reset if it belongs to an older window."""
        slot = fingerprint % self._slots
        for _ in range(self._slots):
            if self._cells[slot * 3] in (0, fingerprint):
                break
            slot = (slot + 1) % self._slots
        base = slot * 3
        if self._cells[base] != fingerprint or self._cells[base + 1] != window:
            self._cells[base], self._cells[base + 1], self._cells[base + 2] = fingerprint, window, 0
        return base + 2

    def take(self, counters: list[tuple[int, int, int, int]]) -> list[int]:
        """For (fingerprint, window, amount, keep_seconds) counters: the indexes of those already at their amount;
        when there are none, counts the request in every one. A refused request uses up nothing. (keep_seconds,
        how long a counter must outlive this request, matters to a store that expires them; a newer window's
        count simply replaces an older one here.)"""
        with self._lock:
            cells = [self._slot(fingerprint, window) for fingerprint, window, *_ in counters]
            full = [i for i, (cell, (_, _, amount, _)) in enumerate(zip(cells, counters, strict=True))
                    if self._cells[cell] >= amount]
            if not full:
                for cell in cells:
                    self._cells[cell] += 1
            return full


_shared: WindowCounters | None = None


def share_counters_across_workers() -> None:
    """Called in the gunicorn master (its config module), before the workers are forked."""
    global _shared
    _shared = WindowCounters()


class Counters(Protocol):
    def take(self, counters: list[tuple[int, int, int, int]]) -> list[int]: ...


def machine_counters() -> WindowCounters:
    """This machine's counters: those the gunicorn master shares with its workers, else this process's own."""
    return _shared or WindowCounters()


class RateLimiter:
    def __init__(self, rules: tuple[Limit, ...], counters: Counters | None = None):
        self.rules = rules
        self._counters = counters or machine_counters()

    def retry_after(self, key_name: str, now: float | None = None) -> int | None:
        """None when the request is allowed (and counted), else the seconds until it would be."""
        now = time.time() if now is None else now
        windows = [int(now // rule.seconds) for rule in self.rules]
        left = [(window + 1) * rule.seconds - now for rule, window in zip(self.rules, windows, strict=True)]
        # kept a second past the window's end: no request still counting in it finds it gone
        counters = [(_fingerprint(f"{i}:{key_name}"), window, rule.amount, math.ceil(seconds) + 1)
                    for i, (rule, window, seconds) in enumerate(zip(self.rules, windows, left, strict=True))]
        full = self._counters.take(counters)
        if not full:
            return None
        return max(max(1, math.ceil(left[i])) for i in full)


def counted_where(redis_url: str | None) -> str:
    """Where the limit is counted, for banners and logs (never a password)."""
    if redis_url:
        return f"in Redis at {describe_redis(redis_url)}, shared by every API process"
    return "on this machine (MONKEYTOWN_REDIS_URL unset: each API server counts alone)"


def _fingerprint(text: str) -> int:
    # never 0, which marks an empty slot
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=7).digest(), "big") | 1
