"""Scoring a candidate from its repeats, and choosing a winner, the way vLLM's own k tuner does.

score = median - 1.4826 x MAD: a candidate is ranked by what it reliably
does, not by its luckiest repeat (1.4826 x MAD estimates a standard
deviation, robust to an outlier). A candidate whose MAD is over 10% of its
median is too noisy to rank: it is measured again, then marked noisy if it
still is. Candidates within 1% of the best score tie, and the simpler one
wins (speculation off, then fewer draft tokens, then fewer knobs set).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

MAD_SCALE = 1.4826
NOISY_MAD_FRACTION = 0.10
TIE_FRACTION = 0.01

T = TypeVar("T")


@dataclass(frozen=True)
class Score:
    median: float
    mad: float
    n: int

    @property
    def value(self) -> float:
        return self.median - MAD_SCALE * self.mad

    @property
    def noisy(self) -> bool:
        return self.median > 0 and self.mad > NOISY_MAD_FRACTION * self.median


def score(samples: Sequence[float]) -> Score:
    if not samples:
        raise ValueError("a score needs at least one sample")
    med = statistics.median(samples)
    mad = statistics.median(abs(x - med) for x in samples)
    return Score(med, mad, len(samples))


def winner(
    scored: Sequence[tuple[T, Score]], simplicity: Callable[[T], tuple[int, ...]]
) -> tuple[T, list[T]]:
    """(the winner, the candidates that tied with it); only candidates that are not noisy rank."""
    ranked = [(c, s) for c, s in scored if not s.noisy] or list(scored)
    if not ranked:
        raise ValueError("nothing to choose from")
    best = max(s.value for _, s in ranked)
    tied = [c for c, s in ranked if s.value >= best - abs(best) * TIE_FRACTION]
    tied.sort(key=simplicity)
    return tied[0], tied[1:]
