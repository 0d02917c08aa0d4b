"""The measurements' pure helpers and the checks' judgment, on numbers worked out by hand."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from orchestration.monitoring.api_metrics import DB_QUERY_HISTOGRAM, histogram_buckets
from orchestration.monitoring.checks import judge
from orchestration.monitoring.measure import (
    StatementStats,
    error_rate,
    events_per_second,
    growth_per_day,
    histogram_quantile,
    statements_p95_ms,
)
from orchestration.monitoring.measurement_metadata import Reading
from orchestration.monitoring.thresholds import ERROR_RATE, EVENTS_PER_SECOND, QUERY_P95, STORAGE_GROWTH

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_events_per_second_is_the_windows_events_over_its_seconds():
    assert events_per_second(330_000, timedelta(minutes=5)) == 1100.0
    assert events_per_second(0, timedelta(minutes=5)) == 0.0


def test_the_error_rate_is_refusals_over_everything_offered():
    assert error_rate(refused=5, landed=95) == 0.05
    assert error_rate(refused=0, landed=0) == 0.0
    assert error_rate(refused=3, landed=0) == 1.0


def test_growth_is_extrapolated_to_a_day():
    assert growth_per_day(3_000, NOW, 1_000, NOW - timedelta(hours=2)) == pytest.approx(24_000)
    assert growth_per_day(1_000, NOW, 2_000, NOW - timedelta(days=2)) == pytest.approx(-500)


def test_one_statements_p95_is_its_mean_plus_1_645_standard_deviations():
    stats = [StatementStats(calls=1000, mean_ms=10.0, stddev_ms=2.0)]
    assert statements_p95_ms(stats) == pytest.approx(10 + 1.6449 * 2, abs=1e-3)
    assert stats[0].p95_ms() == pytest.approx(13.2897, abs=1e-3)


def test_the_p95_of_a_mix_follows_the_calls_not_the_slowest_statement():
    fast, slow = StatementStats(97, 1.0, 0.0), StatementStats(3, 5_000.0, 0.0)
    assert statements_p95_ms([fast, slow]) == pytest.approx(1.0, abs=1e-6)  # 97% of the calls take 1 ms
    slower = StatementStats(10, 5_000.0, 0.0)
    assert statements_p95_ms([fast, slower]) == pytest.approx(5_000.0, abs=1e-6)  # over 5% take 5 s


def test_a_mix_of_two_normal_statements_puts_95_percent_of_the_calls_below_the_p95():
    stats = [StatementStats(900, 2.0, 1.0), StatementStats(100, 50.0, 10.0)]
    p95 = statements_p95_ms(stats)
    below = sum(s.calls * 0.5 * (1 + math.erf((p95 - s.mean_ms) / (s.stddev_ms * math.sqrt(2)))) for s in stats)
    assert below / 1000 == pytest.approx(0.95, abs=1e-6)
    assert 40 < p95 < 50  # half of the slow statement's calls are under its mean


def test_no_statement_no_p95():
    assert statements_p95_ms([]) is None


def test_histogram_quantile_interpolates_within_the_bucket_as_prometheus_does():
    buckets = [(0.01, 50.0), (0.1, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    # rank 95 falls in (0.1, 1.0], which holds the 91st to the 100th observation
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.1 + 0.9 * 5 / 10)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.95, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert histogram_quantile(0.95, [(0.1, 1.0), (math.inf, 100.0)]) == 0.1  # beyond the last bound


def test_the_buckets_of_the_apis_histogram_are_summed_over_its_statements():
    registry = CollectorRegistry()
    timings = Histogram(DB_QUERY_HISTOGRAM, "statements", ["statement"], buckets=(0.001, 0.01, 0.1),
                        registry=registry)
    for seconds in [0.0005] * 90:
        timings.labels("land_events").observe(seconds)
    for seconds in [0.05] * 10:
        timings.labels("check").observe(seconds)
    buckets = histogram_buckets(generate_latest(registry).decode())
    assert buckets == [(0.001, 90.0), (0.01, 90.0), (0.1, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.01 + 0.09 * 5 / 10)


@pytest.mark.parametrize(("threshold", "value", "passed"), [
    (ERROR_RATE, 0.0099, True), (ERROR_RATE, 0.05, False),
    (STORAGE_GROWTH, 0.9e9, True), (STORAGE_GROWTH, 1.2e9, False),
    (QUERY_P95, 99.0, True), (QUERY_P95, 150.0, False),
    (EVENTS_PER_SECOND, 1000.0, True), (EVENTS_PER_SECOND, 1000.5, False),
])
def test_a_value_over_its_limit_fails_its_check(threshold, value, passed):
    verdict = judge(threshold, Reading(value, NOW))
    assert verdict.passed is passed
    assert threshold.unit in verdict.description


def test_nothing_measured_is_no_breach():
    assert judge(QUERY_P95, None).passed
    verdict = judge(QUERY_P95, Reading(None, NOW, "no API address configured"))
    assert verdict.passed and "no API address configured" in verdict.description
