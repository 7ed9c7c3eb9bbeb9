"""Summary statistics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from dyno.bench.stats import percentile, summarize


def test_summary_of_a_known_sample() -> None:
    s = summarize([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert s is not None
    assert (s.n, s.mean, s.median, s.min, s.max) == (8, 5.0, 4.5, 2.0, 9.0)
    # sample std (n-1): sum of squared deviations is 32, 32/7
    assert s.std == pytest.approx(math.sqrt(32 / 7))
    assert s.pm(2) == "5.00 ± 2.14"


def test_percentiles_interpolate_between_ranks() -> None:
    xs = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(xs, 50) == 30.0
    assert percentile(xs, 90) == pytest.approx(46.0)  # rank 3.6: 40 + 0.6 * 10
    assert percentile(xs, 99) == pytest.approx(49.6)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_none_values_are_dropped_and_an_empty_sample_has_no_summary() -> None:
    assert summarize([None, None]) is None
    s = summarize([None, 3.0])
    assert s is not None and s.n == 1 and s.std == 0.0
