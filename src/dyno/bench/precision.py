"""Repeat until precise: `--precision 5%` keeps repeating a measurement until the 95% interval on
its headline figure's mean is within ±5%, or `--max-repeats` is reached, and says which happened.

The spread that counts is between repeats (each repeat is one request here, the unit a server's
drift moves), never within one request. Peers: GuideLLM's `target_moe`, AIPerf's
`--convergence-metric ci_width`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dyno.bench.stats import MIN_SAMPLES, mean_half_width
from dyno.errors import UsageError

DEFAULT_MAX_REPEATS = 20


def parse_precision(text: str | None) -> float | None:
    """'5%' or '0.05' -> 0.05; None stays None."""
    if text is None:
        return None
    raw = text.strip()
    try:
        value = float(raw.removesuffix("%")) / (100 if raw.endswith("%") else 1)
    except ValueError as e:
        raise UsageError(f"--precision {text!r} is not a percentage (e.g. 5%)") from e
    if not 0 < value < 1:
        raise UsageError(f"--precision {text!r} must be between 0% and 100%")
    return value


@dataclass(frozen=True)
class Reached:
    """How one measurement's repeats ended."""

    label: str
    figure: str  # the headline figure judged, e.g. "decode tok/s"
    asked: float  # relative half-width, 0.05 = ±5%
    n: int  # repeats made
    half_width: float | None  # reached; None: fewer than MIN_SAMPLES usable values
    reached: bool
    max_repeats: int

    def note(self) -> str:
        got = f"±{self.half_width:.1%}" if self.half_width is not None else "no interval"
        asked = f"±{self.asked * 100:g}%"
        if self.reached:
            return f"{self.label}: {self.figure} {got} (95%) at n={self.n}, within the asked {asked}"
        return (
            f"{self.label}: {self.figure} {got} (95%) after {self.n} repeats (--max-repeats "
            f"{self.max_repeats}), short of the asked {asked}: the server's speed varies more "
            "than that between requests, or give it more repeats"
        )


def most_repeats(first: int, asked: float | None, max_repeats: int) -> int:
    """How many repeats a measurement may make: `first`, or up to `max_repeats` when a precision is asked."""
    return max(first, max_repeats) if asked is not None else first


async def repeat(
    one: Callable[[int], Awaitable[float | None]],
    first: int,
    asked: float | None,
    max_repeats: int,
    *,
    label: str,
    figure: str,
) -> Reached | None:
    """Call `one(seq)` for each repeat (it returns the headline figure, None when the request
    failed): `first` times, then more while `asked` is set and not met, up to `max_repeats`.
    The `Reached` when a precision was asked, else None."""
    ceiling = most_repeats(first, asked, max_repeats)
    values: list[float] = []
    n = 0
    hw: float | None = None
    while n < ceiling:
        v = await one(n)
        n += 1
        if v is not None:
            values.append(v)
        if asked is None or n < max(first, MIN_SAMPLES):
            continue
        hw = mean_half_width(values)
        if hw is not None and hw <= asked:
            break
    if asked is None:
        return None
    return Reached(label, figure, asked, n, hw, hw is not None and hw <= asked, ceiling)
