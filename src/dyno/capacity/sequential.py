"""Decide "is this level's attainment at least the target?" after every request, with honest errors.

A probe looks at its tally after every finished request and stops as soon as it
can say pass or fail. Looking after every request and stopping at the first
boundary crossed is a sequential test: a fixed-n interval checked that way
errs far more often than its level (every look is another chance to cross by
luck). So the per-look threshold is calibrated for the looks really taken:

- pass at n judged requests with k conforming when P(X >= k | n, p0) <= a;
- fail when P(X <= k | n, p0) <= a;
- each a is the largest per-look level for which, with looks at every n up to
  the cap, a level whose true attainment is exactly the target p0 is ever
  passed (for the pass side) or ever failed (for the fail side) with
  probability <= alpha, computed exactly by dynamic programming over (n, k),
  not simulated. Each side is calibrated with the other side absent: the
  other boundary only removes paths, so together each error stays <= alpha.

A level at or below the target is passed at most alpha of the time, a level at
or above it failed at most alpha of the time; a level that reaches the cap
undecided is "indeterminate", and said so. What it assumes: requests are
independent trials, which a level's requests are only roughly (a slow batch
slows neighbours); the cap bounds what that can cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy.stats import binom

Verdict = Literal["pass", "fail", "indeterminate"]


@dataclass(frozen=True)
class Boundaries:
    """For n = 0..cap: pass once conforming >= pass_at[n]; fail once conforming <= fail_at[n]."""

    target: float
    alpha: float
    cap: int
    per_look: tuple[float, float]  # the calibrated per-look levels (pass side, fail side)
    pass_at: tuple[int, ...]  # cap + 1 entries; n + 1 (unreachable) where n cannot pass yet
    fail_at: tuple[int, ...]  # -1 where n cannot fail yet
    pass_error: float  # P(ever pass | attainment == target), exact
    fail_error: float  # P(ever fail | attainment == target), exact

    def decide(self, conforming: int, n: int) -> Verdict | None:
        """The verdict at n judged requests, or None to go on (at the cap: indeterminate)."""
        if n <= 0:
            return None
        n_ = min(n, self.cap)
        if conforming >= self.pass_at[n_]:
            return "pass"
        if conforming <= self.fail_at[n_]:
            return "fail"
        return "indeterminate" if n >= self.cap else None

    @property
    def all_conforming_needs(self) -> int:
        """Requests a level where every one conforms needs to pass (the fewest a pass can cost)."""
        return next(n for n in range(1, self.cap + 1) if self.pass_at[n] <= n)


def _thresholds(tail_hi: np.ndarray, tail_lo: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray]:
    cap = tail_hi.shape[0] - 1
    ks = np.arange(cap + 2)
    # Smallest k with P(X >= k) <= a (tail_hi[n, k] = P(X >= k)); cap + 2 where none.
    ok_hi = tail_hi <= a
    pass_at = np.where(ok_hi.any(axis=1), ok_hi.argmax(axis=1), cap + 2)
    # Largest k with P(X <= k) <= a; -1 where none.
    ok_lo = tail_lo <= a
    last = (cap + 1) - np.argmax(ok_lo[:, ::-1], axis=1)
    fail_at = np.where(ok_lo.any(axis=1), ks[np.clip(last, 0, cap + 1)], -1)
    return pass_at, fail_at


def _errors(p0: float, pass_at: np.ndarray, fail_at: np.ndarray) -> tuple[float, float]:
    """Exact P(ever pass), P(ever fail) under attainment p0, looking after every request (a path
    absorbed by one boundary cannot reach the other later)."""
    cap = pass_at.shape[0] - 1
    alive = np.zeros(cap + 2)
    alive[0] = 1.0
    ks = np.arange(cap + 2)
    passed = failed = 0.0
    for n in range(1, cap + 1):
        nxt = alive * (1 - p0)
        nxt[1:] += alive[:-1] * p0
        hit_pass = ks >= pass_at[n]
        hit_fail = ks <= fail_at[n]
        passed += float(nxt[hit_pass].sum())
        failed += float(nxt[hit_fail & ~hit_pass].sum())
        nxt[hit_pass | hit_fail] = 0.0
        alive = nxt
    return passed, failed


def fixed_n(target: float, alpha: float) -> int:
    """Requests a single look needs to pass a level where every one conformed: target^n <= alpha."""
    return int(np.ceil(np.log(alpha) / np.log(target)))


def default_cap(target: float, alpha: float = 0.05) -> int:
    """Enough requests for a level near the target to be decided, not only an all-conforming one."""
    return max(200, 4 * fixed_n(target, alpha))


def _calibrate(
    target: float, alpha: float, tail_hi: np.ndarray, tail_lo: np.ndarray, side: int
) -> tuple[float, np.ndarray]:
    """The largest per-look level whose one side (0 pass, 1 fail), alone, errs <= alpha."""
    cap = tail_hi.shape[0] - 1
    never_pass, never_fail = np.full(cap + 1, cap + 2), np.full(cap + 1, -1)
    lo, hi, best = 0.0, alpha, None
    for _ in range(40):  # bisection: the error only grows with the per-look level
        a = (lo + hi) / 2
        pa, fa = _thresholds(tail_hi, tail_lo, a)
        err = _errors(target, pa, never_fail)[0] if side == 0 else _errors(target, never_pass, fa)[1]
        if err <= alpha:
            best, lo = (a, pa if side == 0 else fa), a
        else:
            hi = a
    if best is None:  # pragma: no cover - a small enough level always holds
        raise RuntimeError("no per-look level holds the error")
    return best


@lru_cache(maxsize=32)
def boundaries(target: float, alpha: float = 0.05, cap: int | None = None) -> Boundaries:
    """The calibrated boundaries for `target` attainment, errors <= `alpha`, at most `cap` requests."""
    if not 0 < target < 1:
        raise ValueError("the attainment target is a fraction strictly between 0 and 1")
    cap = cap or default_cap(target, alpha)
    if cap < fixed_n(target, alpha):
        raise ValueError(
            f"{cap} requests cannot show attainment >= {target:g} at {1 - alpha:.0%} confidence "
            f"(even all conforming needs {fixed_n(target, alpha)})"
        )
    n = np.arange(cap + 1)[:, None]
    k = np.arange(cap + 2)[None, :]
    tail_hi = np.where(k <= n, binom.sf(k - 1, n, target), 0.0)  # P(X >= k)
    tail_lo = np.where(k <= n, binom.cdf(k, n, target), 1.0)  # P(X <= k)
    tail_hi[:, 0] = 1.0
    tail_hi[0, :] = 1.0  # nothing judged: no verdict
    tail_lo[0, :] = 1.0
    a_pass, pa = _calibrate(target, alpha, tail_hi, tail_lo, 0)
    a_fail, fa = _calibrate(target, alpha, tail_hi, tail_lo, 1)
    ep, ef = _errors(target, pa, fa)
    pass_t = tuple(int(min(x, i + 1)) for i, x in enumerate(pa))
    fail_t = tuple(int(x) for x in fa)
    return Boundaries(target, alpha, cap, (a_pass, a_fail), pass_t, fail_t, ep, ef)
