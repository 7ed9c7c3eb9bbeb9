"""The report's plots draw a bounded number of points whatever the run's size."""

from __future__ import annotations

import numpy as np

from dyno.report.plots import CDF_POINTS, cdf_points


def test_a_cdf_of_many_samples_is_drawn_from_a_bounded_number_of_quantiles() -> None:
    samples = np.random.default_rng(7).lognormal(size=10_000)
    xs, ys = cdf_points(list(samples))
    assert len(xs) == len(ys) == CDF_POINTS
    assert xs[0] == samples.min() and xs[-1] == samples.max()  # the tails are kept
    assert np.all(np.diff(xs) >= 0) and ys[0] == 0.0 and ys[-1] == 1.0
    # the median of the drawn curve is the sample's median
    assert abs(np.interp(0.5, ys, xs) - np.median(samples)) < 0.01 * np.median(samples)


def test_a_cdf_of_few_samples_draws_every_sample() -> None:
    samples = [3.0, 1.0, 2.0, 2.0, 9.0]
    xs, ys = cdf_points(samples)
    assert list(xs) == sorted(samples) and list(ys) == [0.0, 0.25, 0.5, 0.75, 1.0]
