"""Medians, percentiles and paired ratios: noisy machines are compared side by side, never on absolutes."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize_latencies(seconds: Sequence[float]) -> dict:
    """p50/p90/p99/max in milliseconds."""
    if not seconds:
        return {"count": 0}
    ms = [s * 1000 for s in seconds]
    return {"count": len(ms), "p50": round(percentile(ms, 0.5), 2), "p90": round(percentile(ms, 0.9), 2),
            "p99": round(percentile(ms, 0.99), 2), "max": round(max(ms), 2)}


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of the per-round ratios: each pair ran back to back, so drift cancels within a pair."""
    return median([n / d for n, d in zip(numerators, denominators, strict=True) if d])
