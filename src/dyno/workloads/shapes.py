"""Token-length distributions for a workload: `512`, `normal:512,64`, `uniform:128,1024`.

What `vllm bench serve` (--random-input-len / --random-range-ratio), GuideLLM
(`prompt_tokens=…,prompt_tokens_stdev=…`) and AIPerf (--synthetic-input-tokens-
mean/-stddev) offer, in one small spec. Draws come from a seeded
`random.Random`, so a workload is the same every time its seed is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from dyno.errors import UsageError

KINDS = ("fixed", "normal", "uniform")


@dataclass(frozen=True)
class Lengths:
    kind: str  # fixed | normal | uniform
    a: float  # fixed: the length; normal: mean; uniform: low
    b: float = 0.0  # normal: standard deviation; uniform: high
    minimum: int = 1

    def draw(self, rng: random.Random) -> int:
        if self.kind == "fixed":
            return int(self.a)
        if self.kind == "normal":
            return max(self.minimum, round(rng.gauss(self.a, self.b)))
        return rng.randint(int(self.a), int(self.b))

    @property
    def mean(self) -> float:
        return self.a if self.kind in ("fixed", "normal") else (self.a + self.b) / 2

    @property
    def upper(self) -> int:
        """A length that draws almost never exceed (for fitting the context)."""
        if self.kind == "fixed":
            return int(self.a)
        if self.kind == "normal":
            return int(self.a + 4 * self.b)
        return int(self.b)

    def spec(self) -> str:
        if self.kind == "fixed":
            return str(int(self.a))
        return f"{self.kind}:{self.a:g},{self.b:g}"


def parse_lengths(raw: str, what: str = "--input-tokens") -> Lengths:
    """`N`, `normal:MEAN,STD` or `uniform:LOW,HIGH`; a UsageError that shows the forms otherwise."""
    forms = f"{what} takes N, normal:MEAN,STD or uniform:LOW,HIGH (tokens), not {raw!r}"
    kind, sep, rest = raw.partition(":")
    try:
        if not sep:
            n = int(raw)
            if n < 1:
                raise UsageError(f"{what} must be >= 1, not {n}")
            return Lengths("fixed", n)
        a_raw, _, b_raw = rest.partition(",")
        a, b = float(a_raw), float(b_raw)
    except ValueError:
        raise UsageError(forms) from None
    if kind == "normal" and a >= 1 and b >= 0:
        return Lengths("normal", a, b)
    if kind == "uniform" and 1 <= a <= b:
        return Lengths("uniform", a, b)
    raise UsageError(forms)


def parse_rates(raw: str | None) -> tuple[float, ...]:
    """`--rate 0.5,1,2`: requests per second, one level each."""
    if not raw:
        return ()
    try:
        return tuple(float(x) for x in raw.split(","))
    except ValueError:
        raise UsageError(f"--rate takes requests per second like 2 or 0.5,1,2, not {raw!r}") from None


def parse_levels(raw: str | None) -> tuple[int, ...] | None:
    """`--concurrency 1,2,4,8`: requests in flight, one level each; None when not given."""
    if not raw:
        return None
    try:
        levels = tuple(int(x) for x in raw.split(","))
    except ValueError:
        raise UsageError(f"--concurrency takes numbers like 1,2,4,8, not {raw!r}") from None
    if any(x < 1 for x in levels):
        raise UsageError("--concurrency levels must be >= 1")
    return levels
