"""The knee: the concurrency where throughput stops growing, from a two-segment fit.

Throughput against concurrency rises about linearly while the server has room
and flattens once it is saturated. Two straight lines are fitted by least
squares, split at each probed level in turn (the split level belongs to both);
the split with the smallest total squared error is the knee. It is called a
plateau only when the second line's slope is under a quarter of the first's:
a curve still climbing has no knee yet, and is said to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_LEVELS = 5  # fewer points than this fit two lines to noise (unless asked with --knee)


@dataclass(frozen=True)
class Knee:
    level: int
    tok_s: float  # measured throughput at the knee


def _sse(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Squared error and slope of the least-squares line through (x, y)."""
    if len(x) < 2:
        return 0.0, 0.0
    slope, icpt = np.polyfit(x, y, 1)
    return float(((slope * x + icpt - y) ** 2).sum()), float(slope)


def find_knee(curve: Sequence[tuple[int, float]], *, force: bool = False) -> Knee | None:
    """(level, tok/s) points in any order; None with too few levels, or where it has not flattened."""
    pts = sorted(curve)
    if len(pts) < (3 if force else MIN_LEVELS):
        return None
    x = np.array([p[0] for p in pts], dtype=float)
    y = np.array([p[1] for p in pts], dtype=float)
    best: tuple[float, int, float, float] | None = None
    for i in range(1, len(pts) - 1):
        e1, s1 = _sse(x[: i + 1], y[: i + 1])
        e2, s2 = _sse(x[i:], y[i:])
        if best is None or e1 + e2 < best[0]:
            best = (e1 + e2, i, s1, s2)
    if best is None:
        return None
    _, i, s1, s2 = best
    return Knee(int(x[i]), float(y[i])) if s1 > 0 and s2 < 0.25 * s1 else None
