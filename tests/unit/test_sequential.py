"""The capacity probe's sequential test: its errors hold at the looks it really takes."""

from __future__ import annotations

import numpy as np
import pytest

from dyno.capacity.sequential import boundaries, fixed_n


def _run(b, p: float, rng: np.random.Generator, trials: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out = {"pass": 0, "fail": 0, "indeterminate": 0}
    draws = rng.random((trials, b.cap)) < p
    for row in draws:
        k = 0
        for n, ok in enumerate(row, start=1):
            k += int(ok)
            v = b.decide(k, n)
            if v is not None:
                out[v] += 1
                break
    return out


@pytest.mark.parametrize("target", [0.9, 0.95])
def test_a_level_exactly_at_the_target_is_passed_and_failed_at_most_alpha_of_the_time(target: float) -> None:
    """Simulated with the decision the probe makes after every request; 4000 trials tell 0.05 from 0.08
    (binomial sd 0.0034). The exact figures the calibration computed are checked against it too."""
    b = boundaries(target)
    assert b.pass_error <= 0.05 and b.fail_error <= 0.05
    trials = 4000
    got = _run(b, target, np.random.default_rng(7), trials)
    tol = 3 * np.sqrt(0.05 * 0.95 / trials)
    assert got["pass"] / trials <= 0.05 + tol
    assert got["fail"] / trials <= 0.05 + tol
    assert got["pass"] / trials == pytest.approx(b.pass_error, abs=tol)
    assert got["fail"] / trials == pytest.approx(b.fail_error, abs=tol)


def test_checking_a_fixed_n_rule_after_every_request_would_err_far_more() -> None:
    """Why the boundaries are calibrated: a one-sided 5% test looked at after every request passes a
    level that sits exactly at the target far more often than 5%."""
    b = boundaries(0.95)
    naive = type(b)(0.95, 0.05, b.cap, (0.05, 0.05), *(_naive_thresholds(0.95, b.cap)), 0.0, 0.0)
    trials = 2000
    got = _run(naive, 0.95, np.random.default_rng(3), trials)
    assert got["pass"] / trials > 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)


def _naive_thresholds(p0: float, cap: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    from scipy.stats import binom

    pass_at, fail_at = [1], [-1]
    for n in range(1, cap + 1):
        ks = np.arange(n + 1)
        sf = binom.sf(ks - 1, n, p0)
        cdf = binom.cdf(ks, n, p0)
        ok = np.nonzero(sf <= 0.05)[0]
        pass_at.append(int(ok[0]) if len(ok) else n + 1)
        bad = np.nonzero(cdf <= 0.05)[0]
        fail_at.append(int(bad[-1]) if len(bad) else -1)
    return tuple(pass_at), tuple(fail_at)


def test_a_clear_level_is_decided_in_few_requests() -> None:
    b = boundaries(0.95)
    # Everything conforms: passes at the first n where even the calibrated look is convinced.
    n = b.all_conforming_needs
    assert fixed_n(0.95, 0.05) == 59 <= n <= b.cap
    assert b.decide(n, n) == "pass" and b.decide(n - 1, n - 1) is None
    # Nothing conforms: failed within a handful.
    assert next(m for m in range(1, 20) if b.decide(0, m) == "fail") <= 5


def test_the_cap_makes_a_straddling_level_indeterminate() -> None:
    b = boundaries(0.95, cap=200)
    k = round(0.95 * 200)  # right at the target after 200 requests
    assert b.decide(k, 200) == "indeterminate"


def test_a_cap_too_small_to_ever_pass_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot show"):
        boundaries(0.99, cap=100)
