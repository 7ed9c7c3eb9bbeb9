"""How often a "95%" interval on a ratio holds the true ratio, by method, statistic, n and noise shape.

Simulates two configs whose figures differ by a known factor (candidate = 1.2 x baseline, drawn
from one noise shape: a scale family, so the true ratio is 1.2 for the mean, the median and
every quantile), puts an interval on the ratio of each statistic with

- `bootstrap`: the percentile bootstrap dyno used before (2000 resamples, each side on its own);
- `ratio_ci`:  what dyno uses now (bench/stats.py: Welch's t on the log ratio for a mean and for a
               median of fewer than 10 samples, the bootstrap for larger medians and p99),

and prints the fraction of trials whose interval holds 1.2, and the median width (high/low).
Noise shapes: `normal` (5% CV, a steady decode tok/s), `lognormal` (sigma 0.25, per-request
throughput), `heavy` (15% of values stalled 1.5-5x and more: TTFT with queueing).

    .venv/bin/python benchmarks/interval_coverage.py [--trials 1000] [--n 3,5,10,30,200]

With T trials a coverage figure has a binomial standard error of sqrt(p(1-p)/T): 0.007 at
p = 0.95 and T = 1000, so 0.95 and 0.90 are told apart at 7 standard errors. No CPU speed in it:
the figures are the same on every machine for a given seed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np

from dyno.bench.stats import RatioCI, _bootstrap, ratio_ci

TRUE_RATIO = 1.2
SHAPES = ("normal", "lognormal", "heavy")


def noise(shape: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """n positive draws of one noise shape around 1."""
    if shape == "normal":
        return 1 + 0.05 * rng.standard_normal(n)
    if shape == "lognormal":
        return np.exp(0.25 * rng.standard_normal(n))
    if shape == "heavy":
        base = 1 + 0.03 * rng.standard_normal(n)
        stalled = rng.random(n) < 0.15
        return base * np.where(stalled, 1.5 + rng.pareto(2.5, n), 1.0)
    raise ValueError(f"unknown noise shape {shape!r}; known: {', '.join(SHAPES)}")


Interval = Callable[[Sequence[float], Sequence[float], str, int], tuple[float, float] | None]


def dyno_interval(
    c: Sequence[float], b: Sequence[float], which: str, seed: int
) -> tuple[float, float] | None:
    r: RatioCI | None = ratio_ci(c, b, which, seed=seed)
    return (r.low, r.high) if r is not None and r.low is not None and r.high is not None else None


def bootstrap_interval(
    c: Sequence[float], b: Sequence[float], which: str, seed: int
) -> tuple[float, float] | None:
    return _bootstrap(np.asarray(c), np.asarray(b), which, 0.95, 2000, seed)


METHODS: dict[str, Interval] = {"bootstrap": bootstrap_interval, "ratio_ci": dyno_interval}


def coverage(
    method: Interval, which: str, shape: str, n: int, trials: int, seed: int = 0
) -> tuple[float, float, int]:
    """(fraction of trials whose interval holds the true ratio, median width high/low, trials
    with no interval). A trial with no interval counts as not covering: a method may not
    buy its coverage by declining to answer."""
    rng = np.random.default_rng(seed)
    hits, widths, none = 0, [], 0
    for t in range(trials):
        c = TRUE_RATIO * noise(shape, rng, n)
        b = noise(shape, rng, n)
        ci = method(c.tolist(), b.tolist(), which, t)
        if ci is None:
            none += 1
            continue
        hits += ci[0] <= TRUE_RATIO <= ci[1]
        widths.append(ci[1] / ci[0])
    return hits / trials, float(np.median(widths)) if widths else float("nan"), none


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--n", default="3,5,10,30,200")
    ap.add_argument("--stats", default="mean,median")
    a = ap.parse_args()
    sizes = [int(x) for x in a.n.split(",")]
    print(f"coverage of a nominal 95% interval on a ratio (true {TRUE_RATIO}), {a.trials} trials a cell")
    print(f"{'statistic':9} {'shape':9} {'n':>4}  " + "  ".join(f"{m:>20}" for m in METHODS))
    for which in a.stats.split(","):
        for shape in SHAPES:
            for n in sizes:
                cells = []
                for m in METHODS.values():
                    cov, width, none = coverage(m, which, shape, n, a.trials)
                    cells.append(f"{cov:6.3f} (x{width:5.2f})" + (f" {none} none" if none else ""))
                print(f"{which:9} {shape:9} {n:>4}  " + "  ".join(f"{c:>20}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
