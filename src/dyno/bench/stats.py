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
    """candidate / baseline for one statistic, with an interval at `level` when the samples allow one.

    `low`/`high` are None when they do not (`reason` says why): then neither "better" nor
    "≈ noise" is said. Which interval (`method`) was chosen by the coverage simulation in
    benchmarks/interval_coverage.py, per statistic and sample size; see `ratio_ci`."""

    ratio: float
    low: float | None
    high: float | None
    level: float  # e.g. 0.95
    n: tuple[int, int] = (0, 0)  # candidate's, baseline's
    method: str = ""  # "welch-log", "bootstrap"; "" without an interval
    reason: str = ""  # why there is no interval

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def within_noise(self) -> bool:
        """The interval holds 1: the samples do not tell the two apart."""
        return self.low is not None and self.high is not None and self.low <= 1.0 <= self.high

    def text(self, digits: int = 2) -> str:
        """'×1.20 [1.10–1.31]', '… ≈ noise', or '×1.20 (too few samples: n=2)': one rendering everywhere."""
        head = f"×{self.ratio:.{digits}f}"
        if self.low is None or self.high is None:
            return f"{head} ({self.reason})"
        noise = " ≈ noise" if self.within_noise else ""
        return f"{head} [{self.low:.{digits}f}–{self.high:.{digits}f}]{noise}"


STATISTICS = ("mean", "median", "p99")
MIN_SAMPLES = 3  # per side: below it no interval here holds its level (Welch's df would be ~1)
BOOTSTRAP_MEDIAN_FROM = 10  # per side: the percentile bootstrap of a median covers from here on


def quantile_min_samples(q: float, level: float = 0.95) -> int:
    """The fewest samples for which any interval on the q-quantile reaches `level` without assuming
    a distribution: [min, max] covers the quantile with probability 1 - q^n - (1-q)^n. p99 needs
    299 at 95%, p95 59, p90 29; a p99 from fewer is an extrapolation and is marked as such."""
    n = 1
    while 1 - q**n - (1 - q) ** n < level:
        n += 1
    return n


P99_MIN_SAMPLES = quantile_min_samples(0.99)  # 299


def mean_half_width(xs: Sequence[float], level: float = 0.95) -> float | None:
    """The half-width of Student's t interval on the mean of `xs`, relative to the mean (0.05: ±5%);
    None below MIN_SAMPLES or at a zero mean. What `--precision` compares against."""
    if len(xs) < MIN_SAMPLES:
        return None
    mean = statistics.fmean(xs)
    if mean == 0:
        return None
    return _t(level, len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs)) / abs(mean)


def _t(level: float, df: float) -> float:
    """Student's t quantile for a two-sided interval at `level`."""
    from scipy import stats as sps  # imported here: scipy is ~0.3 s to load and few commands need it

    return float(sps.t.ppf(0.5 + level / 2, df))


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
    """statistic(candidate) / statistic(baseline), with the interval that holds `level` at this n.

    Chosen by simulation (benchmarks/interval_coverage.py: normal, log-normal and heavy-tailed
    noise, n = 3 to 1000): the percentile bootstrap covers only ~80% for a mean at n=3 and ~90%
    at n=10, so a mean gets Welch's t-interval on the log of the ratio of means (delta method),
    which holds 95% from n=3; a median gets Welch's t on log values below 10 samples a side
    (a config multiplies the figure by a factor: then the ratio of medians is the ratio of
    geometric means) and the bootstrap from 10 on; a p99 the bootstrap, and only from 299
    samples a side. Each side is an independent sample. Seeded, so a report says the same
    thing every time. None when a side is empty or the baseline's statistic is zero.
    """
    if not candidate or not baseline:
        return None
    base = statistic(baseline, which)
    if base == 0:
        return None
    point = statistic(candidate, which) / base
    n = (len(candidate), len(baseline))
    need = quantile_min_samples(0.99, level) if which == "p99" else MIN_SAMPLES
    if min(n) < need:
        what = "p99 needs" if which == "p99" else "an interval needs"
        return RatioCI(point, None, None, level, n, reason=f"too few samples: n={min(n)}; {what} {need}")
    c, b = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    method = "welch-log"
    if which == "mean":
        ci = _welch_log_ratio(c.mean(), c.var(ddof=1) / len(c), b.mean(), b.var(ddof=1) / len(b), n, level)
    elif which == "median" and min(n) < BOOTSTRAP_MEDIAN_FROM:
        if (c <= 0).any() or (b <= 0).any():
            return RatioCI(point, None, None, level, n, reason="a value <= 0 has no log: no interval")
        lc, lb = np.log(c), np.log(b)
        # on logs, mean and variance of the mean are already relative
        ci = _welch_log_ratio(
            1.0, lc.var(ddof=1) / len(c), 1.0, lb.var(ddof=1) / len(b), n, level, shift=lc.mean() - lb.mean()
        )
    else:
        method, ci = "bootstrap", _bootstrap(c, b, which, level, resamples, seed)
    if ci is None:
        return RatioCI(point, None, None, level, n, reason="no interval: a statistic is zero or negative")
    return RatioCI(point, ci[0], ci[1], level, n, method=method)


def _welch_log_ratio(
    mc: float, vc: float, mb: float, vb: float, n: tuple[int, int], level: float, shift: float | None = None
) -> tuple[float, float] | None:
    """exp(d ± t·se) with d = log(mc/mb) (or `shift`), se² = vc/mc² + vb/mb², Welch–Satterthwaite df."""
    if mc <= 0 or mb <= 0:
        return None
    rc, rb = vc / mc**2, vb / mb**2
    d = math.log(mc / mb) if shift is None else float(shift)
    se = math.sqrt(rc + rb)
    if se == 0:
        return (math.exp(d), math.exp(d))
    df = (rc + rb) ** 2 / (rc**2 / (n[0] - 1) + rb**2 / (n[1] - 1))
    t = _t(level, df)
    return (math.exp(d - t * se), math.exp(d + t * se))


def _bootstrap(
    c: np.ndarray, b: np.ndarray, which: str, level: float, resamples: int, seed: int
) -> tuple[float, float] | None:
    """Percentile bootstrap, each side resampled on its own."""
    rng = np.random.default_rng(seed)
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
    return (float(low), float(high))


_BATCH = 250


def _stat_rows(m: np.ndarray, which: str) -> np.ndarray:
    if which == "mean":
        return np.asarray(m.mean(axis=1))
    if which == "median":
        return np.asarray(np.median(m, axis=1))
    return np.asarray(np.percentile(m, 99, axis=1))
