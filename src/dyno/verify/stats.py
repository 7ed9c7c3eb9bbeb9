"""Paired comparison of two endpoints on the same items: the exact McNemar test.

Both endpoints answer the same problems, so their outcomes are paired. Only
the discordant pairs carry information about a difference:

    b = items only the baseline got right   (the candidate regressed)
    c = items only the candidate got right  (the candidate improved)

Under "no difference", each discordant pair is a fair coin, so b ~ Bin(b + c, 1/2).
The exact two-sided p-value is twice the smaller tail, capped at 1:

    p = min(1, 2 * P(X <= min(b, c))),  X ~ Bin(b + c, 1/2)

Exact rather than the chi-squared approximation because our sets are small
(tens of items) and b + c is often under 10, where the approximation is poor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import comb

ALPHA = 0.05


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for `b` and `c` discordant pairs (1.0 when there are none)."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    # Fractions keep the tail exact; 2**n would lose precision as a float past n ~ 1000.
    tail = Fraction(sum(comb(n, i) for i in range(min(b, c) + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


@dataclass(frozen=True)
class PairedOutcome:
    """A 2x2 table of paired right/wrong outcomes and its exact McNemar test."""

    n: int
    both_right: int
    both_wrong: int
    b: int  # baseline right, candidate wrong
    c: int  # candidate right, baseline wrong
    p_value: float

    @property
    def baseline_right(self) -> int:
        return self.both_right + self.b

    @property
    def candidate_right(self) -> int:
        return self.both_right + self.c

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    @property
    def candidate_worse(self) -> bool:
        """A significant difference in the baseline's favour."""
        return self.significant and self.b > self.c


def paired_outcome(candidate: Sequence[bool], baseline: Sequence[bool]) -> PairedOutcome:
    """Tabulate per-item outcomes (same order on both sides) and test them."""
    if len(candidate) != len(baseline):
        raise ValueError(f"unpaired outcomes: {len(candidate)} candidate vs {len(baseline)} baseline")
    pairs = list(zip(candidate, baseline, strict=True))
    both_right = sum(1 for x, y in pairs if x and y)
    both_wrong = sum(1 for x, y in pairs if not x and not y)
    b = sum(1 for x, y in pairs if y and not x)
    c = sum(1 for x, y in pairs if x and not y)
    return PairedOutcome(len(pairs), both_right, both_wrong, b, c, mcnemar_exact_p(b, c))
