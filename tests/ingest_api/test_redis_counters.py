"""The rate limit counted in a real Redis (MONKEYTOWN_REDIS_URL): limiters that share only the Redis (as API processes
on different hosts do) count a key in one window; while Redis is down, each falls back to its own machine's counters."""

from __future__ import annotations

import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import REGISTRY

from ingest_api.rate_limit import RateLimiter, WindowCounters, parse_limits
from ingest_api.redis_counters import KEY_PREFIX, POOL_SIZE, RETRY_SECONDS, TIMEOUT_SECONDS, RedisWindowCounters


class Clock:
    """The monotonic clock the fallback's retry waits on, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(url: str, rules: str, clock=time.monotonic) -> RateLimiter:
    """One 'process': its own Redis connection and its own machine counters."""
    return RateLimiter(parse_limits(rules), RedisWindowCounters(url, WindowCounters(), clock))


def fallbacks() -> float:
    return REGISTRY.get_sample_value("monkeytown_rate_limit_fallbacks_total") or 0.0


def test_limiters_sharing_only_redis_count_a_key_in_one_window(redis_server):
    one, two = limiter(redis_server.url, "3/minute"), limiter(redis_server.url, "3/minute")
    at = 600.0 + 20  # 20 s into a minute window
    answers = [process.retry_after("k", at) for process in (one, two, one, two, one)]
    assert answers == [None, None, None, 40, 40]
    assert two.retry_after("other", at) is None  # keys are counted apart
    assert one.retry_after("k", 660.0) is None  # the next window starts afresh


def test_in_redis_too_every_rule_applies_and_refusals_use_up_nothing(redis_server):
    one, two = limiter(redis_server.url, "2/second;3/minute"), limiter(redis_server.url, "2/second;3/minute")
    assert [one.retry_after("k", 0.1), two.retry_after("k", 0.2), one.retry_after("k", 0.3)] == [None, None, 1]
    assert two.retry_after("k", 1.5) is None  # the refused request did not count toward the minute
    assert one.retry_after("k", 2.5) == 58  # the minute's three are spent


def test_concurrent_requests_take_exactly_the_limit(redis_server):
    one = limiter(redis_server.url, "40/year")
    with ThreadPoolExecutor(max_workers=2 * POOL_SIZE) as pool:
        answers = list(pool.map(lambda _: one.retry_after("k"), range(200)))
        with redis_server.client() as client:
            connections = len(client.client_list()) - 1  # not this one
    assert answers.count(None) == 40
    assert 1 <= connections <= POOL_SIZE  # the pool's bound (threads rarely reach it; it is for gevent's thousands)


def test_a_counter_expires_a_second_after_its_window(redis_server):
    now = time.time()
    limiter(redis_server.url, "5/hour").retry_after("k", now)
    with redis_server.client() as client:
        [key] = client.keys(f"{KEY_PREFIX}*")
        left = 3600 - now % 3600
        assert left <= client.ttl(key) <= left + 2


def test_with_redis_stopped_the_limit_is_this_machines_then_shared_again_once_redis_answers(redis_server, caplog):
    clock = Clock()
    one, two = limiter(redis_server.url, "3/year", clock), limiter(redis_server.url, "3/year", clock)
    assert [one.retry_after("k"), two.retry_after("k")] == [None, None]  # two of the year's three, in Redis
    redis_server.stop()
    before = fallbacks()
    with caplog.at_level(logging.WARNING, logger="monkeytown.rate_limit"):
        # fail open: each process's own counters, from zero, hold the limit on their machine
        assert [one.retry_after("k") is None for _ in range(4)] == [True, True, True, False]
        assert two.retry_after("k") is None
    assert fallbacks() - before == 5
    down = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(down) == 2 and f"127.0.0.1:{redis_server.port}" in down[0]  # once per process, not per request

    redis_server.start()  # empty: nothing is saved
    assert two.retry_after("k") is None  # within RETRY_SECONDS: still on its own counters (its second)
    clock.now += RETRY_SECONDS
    assert [one.retry_after("k"), two.retry_after("k"), one.retry_after("k")] == [None, None, None]
    assert two.retry_after("k") is not None  # shared again: the year's three are spent in Redis
    assert fallbacks() - before == 6
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_a_hung_redis_costs_a_request_at_most_its_timeout_then_the_fallback_answers_at_once(redis_server):
    clock = Clock()
    one = limiter(redis_server.url, "100/year", clock)
    assert one.retry_after("k") is None  # connected
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert one.retry_after("k") is None
        # one immediate retry at most: two timeouts, never redis-py's default three retries with backoff
        assert time.monotonic() - started < 2 * TIMEOUT_SECONDS + 0.5
        started = time.monotonic()
        assert one.retry_after("k") is None
        assert time.monotonic() - started < 0.05
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)


def test_a_redis_never_reached_still_lets_requests_through_counted_here():
    one = limiter("redis://127.0.0.1:1/0", "1/year")  # nothing listens on port 1
    assert [one.retry_after("k") is None, one.retry_after("k") is None] == [True, False]
