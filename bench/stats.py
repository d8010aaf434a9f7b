"""Percentiles and rates: plain arithmetic over the samples, nothing estimated."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (the value at or above ``fraction`` of them)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int]:
    """p50/p90/p99/max in milliseconds, and how many samples they come from."""
    values = sorted(seconds)
    ms = {name: round(percentile(values, q) * 1000, 2) for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
    return {**ms, "max": round(values[-1] * 1000, 2) if values else math.nan, "samples": len(values)}


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0
