import multiprocessing

import orjson
import pytest

from ingest_api.app import create_app
from ingest_api.rate_limit import Limit, RateLimiter, WindowCounters, parse_limits
from monkeytown.settings import SettingsError
from tests.ingest_api.factories import move


def test_flask_limiter_syntax_is_understood():
    assert parse_limits("1000/second") == (Limit(1000, 1, "1000/second"),)
    assert parse_limits("10 per 2 minutes; 500/day") == (
        Limit(10, 120, "10 per 2 minutes"), Limit(500, 86400, "500/day"))


@pytest.mark.parametrize("text", ["lots", "0/second", "5/fortnight", "10/second;", "/second"])
def test_a_malformed_limit_is_a_settings_error_naming_the_variable(text):
    with pytest.raises(SettingsError, match="MONKEYTOWN_RATE_LIMIT"):
        parse_limits(text)


def test_a_key_gets_its_amount_per_window_then_waits_for_the_next_window():
    limiter = RateLimiter(parse_limits("3/minute"), WindowCounters())
    at = 600.0 + 20  # 20 s into a minute window
    assert [limiter.retry_after("k", at) for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("k", at) == 40
    assert limiter.retry_after("other", at) is None  # keys are counted apart
    assert limiter.retry_after("k", 660.0) is None  # the next window starts afresh


def test_every_rule_of_several_applies_and_refusals_use_up_nothing():
    limiter = RateLimiter(parse_limits("2/second;3/minute"), WindowCounters())
    assert [limiter.retry_after("k", t) for t in (0.1, 0.2, 0.3)] == [None, None, 1]
    assert limiter.retry_after("k", 1.5) is None  # the refused request did not count toward the minute
    assert limiter.retry_after("k", 2.5) == 58  # the minute's three are spent


def _take_three(counters: WindowCounters) -> None:
    for _ in range(3):
        counters.take([(12345, 7, 100, 60)])


def test_forked_workers_count_in_the_same_windows():
    counters = WindowCounters()
    child = multiprocessing.get_context("fork").Process(target=_take_three, args=(counters,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert counters.take([(12345, 7, 4, 60)]) == []  # the child's three plus this one
    assert counters.take([(12345, 7, 4, 60)]) == [0]


def test_over_the_limit_the_api_answers_429_with_retry_after_and_stores_nothing(database_url, clean_raw):
    app = create_app({"DATABASE_URL": database_url, "WRITE_KEYS": {"a": "key-a", "b": "key-b"},
                      "RATE_LIMIT": "2/year"})  # a window no test run straddles
    client = app.test_client()
    try:
        def send(key):
            return client.post("/api/events", data=orjson.dumps(move()),
                               headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})

        assert [send("key-a").status_code for _ in range(2)] == [200, 200]
        refused = send("key-a")
        assert refused.status_code == 429
        assert refused.get_json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 360 * 86400
        assert send("key-b").status_code == 200
        assert clean_raw.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 3
    finally:
        app.extensions["monkeytown.ingest"].pool.close()
