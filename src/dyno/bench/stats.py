"""Summary statistics of a sample of measurements."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample standard deviation (n-1); 0 for n == 1
    median: float
    min: float
    max: float
    p90: float
    p99: float
    # The sample itself (all of it, or evenly spaced order statistics past SAMPLE_CAP), so a comparison
    # can put an interval on a difference; never rendered.
    sample: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def pm(self, digits: int = 1) -> str:
        """'mean ± std' as field reports print it."""
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def percentile(sorted_xs: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_xs:
        raise ValueError("percentile of an empty sample")
    pos = (len(sorted_xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


SAMPLE_CAP = 4096  # a bootstrap over more adds nothing; a million ITL gaps would cost ~30 MB as floats


def _thin(sorted_xs: list[float]) -> tuple[float, ...]:
    if len(sorted_xs) <= SAMPLE_CAP:
        return tuple(sorted_xs)
    step = (len(sorted_xs) - 1) / (SAMPLE_CAP - 1)
    return tuple(sorted_xs[round(i * step)] for i in range(SAMPLE_CAP))


def summarize(values: Iterable[float | None]) -> Summary | None:
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    return Summary(
        sample=_thin(xs),
        n=len(xs),
        mean=statistics.fmean(xs),
        std=statistics.stdev(xs) if len(xs) > 1 else 0.0,
        median=statistics.median(xs),
        min=xs[0],
        max=xs[-1],
        p90=percentile(xs, 90),
        p99=percentile(xs, 99),
    )
