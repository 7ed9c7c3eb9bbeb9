"""Which load level to probe next, and what the probes found: doubling, then bisection.

Pure: it sees only the verdicts so far. The search doubles the level (1, 2, 4,
...) until a level does not pass, then bisects between the largest level that
passed and the smallest that did not, until they are neighbours. Only a level
that *failed* bounds the answer from above: an indeterminate level (its
interval straddles the target at the request cap) and a client-bound one (dyno
could not drive it) end the search with the answer marked unresolved, never
with a made-up bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ProbeVerdict = Literal["pass", "fail", "indeterminate", "client_bound"]


def next_level(verdicts: Mapping[int, ProbeVerdict], max_level: int, start: int = 1) -> int | None:
    """The next level to probe, or None when the search is over."""
    hi = min((lv for lv, v in verdicts.items() if v != "pass"), default=None)
    lo = max((lv for lv, v in verdicts.items() if v == "pass" and (hi is None or lv < hi)), default=0)
    if hi is None:  # doubling
        if not verdicts:
            return min(start, max_level)
        if lo >= max_level:
            return None
        return min(lo * 2, max_level)
    if hi - lo <= 1:
        return None
    if lo == 0:  # nothing passed yet: halve towards 1
        return hi // 2 if hi // 2 not in verdicts else None
    return (lo + hi) // 2


@dataclass(frozen=True)
class Answer:
    """What the verdicts say: the largest level that passed and what is known just above it."""

    capacity: int  # 0: not even the smallest level probed passed
    above: int | None  # the smallest level that did not pass (None: none did, up to max_level)
    above_verdict: ProbeVerdict | None
    resolved: bool  # the level just above capacity failed (or capacity is the most asked for)
    at_max: bool  # every level up to --max-concurrency passed: the answer is "at least"
    unit: str = "streams"  # what a level counts: streams in flight, or users in conversations

    @property
    def explained(self) -> str:
        if self.at_max:
            return f"every level up to {self.capacity} passed: the capacity is at least {self.capacity}"
        if self.above is None or self.above_verdict is None:
            return "the search did not finish"
        if self.above_verdict == "fail":
            if self.above == self.capacity + 1:
                return ""
            return f"levels between {self.capacity} and {self.above} were not probed"
        if self.above_verdict == "client_bound":
            return f"dyno itself could not drive {self.above} {self.unit} (client-bound): no bound"
        return f"{self.above} {self.unit} were indeterminate at the request cap"


def answer(verdicts: Mapping[int, ProbeVerdict], max_level: int, unit: str = "streams") -> Answer:
    hi = min((lv for lv, v in verdicts.items() if v != "pass"), default=None)
    lo = max((lv for lv, v in verdicts.items() if v == "pass" and (hi is None or lv < hi)), default=0)
    if hi is None:
        return Answer(lo, None, None, lo >= max_level, lo >= max_level, unit)
    v = verdicts[hi]
    return Answer(lo, hi, v, v == "fail" and hi == lo + 1, False, unit)
