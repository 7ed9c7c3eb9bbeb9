"""The exact McNemar test against hand-computed binomial tails."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyno.verify.stats import mcnemar_exact_p, paired_outcome


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 6, 0.03125),  # 2 * (1/2)^6
        (6, 0, 0.03125),
        (1, 9, 0.021484375),  # 2 * (1 + 10) / 1024
        (2, 8, 0.109375),  # 2 * (1 + 10 + 45) / 1024
        (0, 5, 0.0625),  # five discordant pairs all one way are still not significant at 0.05
        (0, 1, 1.0),
        (3, 3, 1.0),
        (10, 10, 1.0),
        (0, 0, 1.0),
    ],
)
def test_known_tables(b: int, c: int, p: float) -> None:
    assert mcnemar_exact_p(b, c) == p


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        mcnemar_exact_p(-1, 3)


def test_large_tables_stay_exact() -> None:
    # 2 * P(X <= 450), X ~ Bin(1000, 1/2): far past where 2**n as a float would lose the tail.
    n, k = 1000, 450
    want = float(min(Fraction(1), 2 * Fraction(sum(comb(n, i) for i in range(k + 1)), 2**n)))
    assert mcnemar_exact_p(k, n - k) == want
    assert 0.001 < want < 0.002


@given(st.integers(0, 60), st.integers(0, 60))
def test_symmetric_and_a_probability(b: int, c: int) -> None:
    p = mcnemar_exact_p(b, c)
    assert p == mcnemar_exact_p(c, b)
    assert 0.0 < p <= 1.0
    if b == c:
        assert p == 1.0
    # more of the same imbalance is never less significant
    assert mcnemar_exact_p(b, c + 1) <= p or c + 1 <= b


def test_paired_outcome_counts_the_table() -> None:
    cand = [True, True, False, False, True, False]
    base = [True, False, True, False, True, True]
    o = paired_outcome(cand, base)
    assert (o.n, o.both_right, o.both_wrong, o.b, o.c) == (6, 2, 1, 2, 1)
    assert (o.candidate_right, o.baseline_right) == (3, 4)
    assert o.p_value == 1.0 and not o.significant and not o.candidate_worse


def test_a_significant_regression_is_flagged_as_candidate_worse() -> None:
    o = paired_outcome([False] * 6 + [True] * 4, [True] * 10)
    assert (o.b, o.c, o.p_value) == (6, 0, 0.03125)
    assert o.significant and o.candidate_worse
    better = paired_outcome([True] * 10, [False] * 6 + [True] * 4)
    assert better.significant and not better.candidate_worse


def test_unpaired_outcomes_are_an_error() -> None:
    with pytest.raises(ValueError, match="unpaired"):
        paired_outcome([True], [True, False])
