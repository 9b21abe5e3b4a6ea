"""Percentiles and formatting shared by the benchmark parts."""

from __future__ import annotations

from typing import List, Sequence, Tuple

__all__ = ["percentile", "p50_p99", "fmt_us", "Target", "TARGETS"]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return float(ordered[rank])


def p50_p99(values: Sequence[float]) -> Tuple[float, float]:
    """Median and 99th percentile."""
    return percentile(values, 0.50), percentile(values, 0.99)


def fmt_us(ns: float) -> str:
    """Nanoseconds as microseconds with one decimal."""
    return f"{ns / 1000:.1f} us"


class Target:
    """One checked target: a name, the measured value, the limit, and whether it holds."""

    def __init__(self, name: str, ok: bool, detail: str) -> None:
        self.name = name
        self.ok = ok
        self.detail = detail

    def line(self) -> str:
        """``PASS  name: detail`` or ``MISS ...``."""
        return f"{'PASS' if self.ok else 'MISS'}  {self.name}: {self.detail}"


#: Targets checked during the run, printed together at the end.
TARGETS: List[Target] = []
