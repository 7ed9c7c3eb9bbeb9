"""Summary statistics of a sample of measurements."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np


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


@dataclass(frozen=True)
class RatioCI:
    """candidate / baseline for one statistic, with a bootstrap interval from the raw samples."""

    ratio: float
    low: float
    high: float
    level: float  # e.g. 0.95

    @property
    def within_noise(self) -> bool:
        """The interval holds 1: the samples do not tell the two apart."""
        return self.low <= 1.0 <= self.high


STATISTICS = ("mean", "median", "p99")


def statistic(xs: Sequence[float], which: str) -> float:
    if which == "mean":
        return statistics.fmean(xs)
    s = sorted(xs)
    return statistics.median(s) if which == "median" else percentile(s, 99)


def ratio_ci(
    candidate: Sequence[float],
    baseline: Sequence[float],
    which: str = "mean",
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> RatioCI | None:
    """Percentile-bootstrap interval of statistic(candidate) / statistic(baseline).

    Each side is resampled with replacement on its own (the two runs are
    independent samples). Seeded, so a report says the same thing every time
    it is rendered. None when a side has fewer than 2 values or a zero statistic.
    """
    if len(candidate) < 2 or len(baseline) < 2:
        return None
    base = statistic(baseline, which)
    if base == 0:
        return None
    point = statistic(candidate, which) / base
    rng = np.random.default_rng(seed)
    c, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    ratios: list[np.ndarray] = []
    for start in range(0, resamples, _BATCH):  # batches keep a resample matrix to a few MB
        k = min(_BATCH, resamples - start)
        cs = _stat_rows(c[rng.integers(0, len(c), (k, len(c)))], which)
        bs = _stat_rows(b[rng.integers(0, len(b), (k, len(b)))], which)
        ok = bs != 0
        ratios.append(cs[ok] / bs[ok])
    r = np.concatenate(ratios)
    if len(r) < resamples // 2:
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(r, [tail, 100 - tail])
    return RatioCI(point, float(low), float(high), level)


_BATCH = 250


def _stat_rows(m: np.ndarray, which: str) -> np.ndarray:
    if which == "mean":
        return np.asarray(m.mean(axis=1))
    if which == "median":
        return np.asarray(np.median(m, axis=1))
    return np.asarray(np.percentile(m, 99, axis=1))
