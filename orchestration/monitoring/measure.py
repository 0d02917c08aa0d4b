"""The measurements themselves, as pure functions of what the database and the API report."""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

#: z of the normal distribution's 95th percentile.
Z_95 = 1.6448536269514722
DAY = timedelta(days=1)


def events_per_second(events: int, window: timedelta) -> float:
    return events / window.total_seconds()


def error_rate(refused: int, landed: int) -> float:
    """Refused events over all events offered (landed + refused); 0 when nothing was offered."""
    offered = refused + landed
    return refused / offered if offered else 0.0


def growth_per_day(bytes_now: float, now: datetime, bytes_before: float, before: datetime) -> float:
    """The growth between two sizes, as bytes per day."""
    return (bytes_now - bytes_before) / ((now - before) / DAY)


@dataclass(frozen=True)
class StatementStats:
    """One statement's timings as pg_stat_statements keeps them: calls, mean and standard deviation (ms)."""

    calls: int
    mean_ms: float
    stddev_ms: float
    query: str = ""

    def p95_ms(self) -> float:
        """Its own p95, its durations taken as normally distributed."""
        return self.mean_ms + Z_95 * self.stddev_ms


def _normal_cdf(x: float, mean: float, stddev: float) -> float:
    if stddev <= 0:
        return 1.0 if x >= mean else 0.0
    return 0.5 * (1 + math.erf((x - mean) / (stddev * math.sqrt(2))))


def statements_p95_ms(stats: Sequence[StatementStats]) -> float | None:
    """The 95th percentile of every execution of every statement: each statement's durations taken as normal with
    its mean and standard deviation, the statements mixed by their calls, the mixture's quantile found by bisection
    (pg_stat_statements keeps no percentiles). None: no statement ran."""
    total = sum(s.calls for s in stats)
    if not total:
        return None

    def share_at_most(x: float) -> float:
        return sum(s.calls * _normal_cdf(x, s.mean_ms, s.stddev_ms) for s in stats) / total

    low, high = 0.0, max(s.mean_ms + 10 * s.stddev_ms for s in stats)
    if share_at_most(low) >= 0.95:
        return 0.0
    for _ in range(100):  # far below a microsecond's width in any realistic range
        middle = (low + high) / 2
        low, high = (low, middle) if share_at_most(middle) >= 0.95 else (middle, high)
    return high


def histogram_quantile(quantile: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile over cumulative (upper bound, count) buckets, +Inf included: linear within the
    bucket the rank falls in; the highest finite bound when it falls in +Inf. None: no observation."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        return None
    rank = quantile * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in ordered:
        if count >= rank:
            if math.isinf(upper_bound):
                return lower_bound
            if count == lower_count:
                return upper_bound
            return lower_bound + (upper_bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = upper_bound, count
    return lower_bound
