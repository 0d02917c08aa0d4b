"""The rate limit's windows counted in Redis (MONKEYTOWN_REDIS_URL), so that every API process, on every host,
counts a key in the same windows.

Redis does what WindowCounters does in shared memory, in one atomic script per request: no counter of the request is
at its amount, or none is counted (a refused request uses up nothing); each counter expires with its window.

While Redis cannot be reached the limit fails open to this machine's own counters (what Flask-Limiter's
in_memory_fallback_enabled does): each host then enforces the limit alone, an ingest API never refuses events
because its limiter's store is down, and each request so counted adds to monkeytown_rate_limit_fallbacks_total; one
warning when it starts, one line when Redis answers again.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ingest_api.metrics import RATE_LIMIT_FALLBACKS
from ingest_api.rate_limit import WindowCounters
from monkeytown.settings import describe_redis

#: Every wait on Redis is bounded: a hung server costs a request this much, then the fallback takes over.
TIMEOUT_SECONDS = 0.5
#: After a failure, how long requests count on this machine before Redis is tried again.
RETRY_SECONDS = 1.0
#: Connections per worker: a gevent worker may run thousands of requests at once; beyond these they queue (bounded).
POOL_SIZE = 32
KEY_PREFIX = "monkeytown:rate:"

log = logging.getLogger("monkeytown.rate_limit")

# KEYS: one counter per rule; ARGV: each rule's amount and the seconds its counter must be kept, in turn.
# Returns the (0-based) indexes of the full counters; when there are none, counts the request in every one.
_TAKE = """
local full = {}
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[2 * i - 1]) then
    full[#full + 1] = i - 1
  end
end
if #full == 0 then
  for i, key in ipairs(KEYS) do
    if redis.call('INCR', key) == 1 then
      redis.call('EXPIRE', key, ARGV[2 * i])
    end
  end
end
return full
"""


class RedisWindowCounters:
    """WindowCounters' take(), counted in Redis; `fallback` (this machine's counters) while Redis is unreachable."""

    def __init__(self, url: str, fallback: WindowCounters, clock=time.monotonic):
        # one immediate retry (a pooled connection the server closed), not redis-py's default three with backoff
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=POOL_SIZE, timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 1))
        self._client = redis.Redis(connection_pool=pool)
        self._take = self._client.register_script(_TAKE)
        self._fallback = fallback
        self._where = describe_redis(url)
        self._clock = clock
        self._down_until: float | None = None  # None: Redis answered last time
        self._lock = threading.Lock()

    def take(self, counters: list[tuple[int, int, int, int]]) -> list[int]:
        """As WindowCounters.take: in Redis, each counter kept for its last element's seconds."""
        if self._down_until is not None and self._clock() < self._down_until:
            return self._counted_here(counters)
        keys, args = [], []
        for fingerprint, window, amount, keep_seconds in counters:
            keys.append(f"{KEY_PREFIX}{fingerprint:x}:{window}")
            args += [amount, keep_seconds]
        try:
            full = [int(i) for i in self._take(keys=keys, args=args)]
        except redis.RedisError as error:
            self._went_down(error)
            return self._counted_here(counters)
        self._answered()
        return full

    def _counted_here(self, counters: list[tuple[int, int, int, int]]) -> list[int]:
        RATE_LIMIT_FALLBACKS.inc()
        return self._fallback.take(counters)

    def _went_down(self, error: redis.RedisError) -> None:
        with self._lock:
            first = self._down_until is None
            self._down_until = self._clock() + RETRY_SECONDS
        if first:
            log.warning("Redis at %s is unreachable (%s): the rate limit is counted on this machine alone until it "
                        "answers again", self._where, type(error).__name__)

    def _answered(self) -> None:
        if self._down_until is None:
            return
        with self._lock:
            was_down, self._down_until = self._down_until is not None, None
        if was_down:
            log.warning("Redis at %s answers again: the rate limit is shared again", self._where)
