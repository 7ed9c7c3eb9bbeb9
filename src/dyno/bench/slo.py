"""Per-request service-level objectives: which requests conform, the attainment, the goodput.

    --slo ttft_ms<=500 --slo tpot_ms<=50      a request conforms only if it meets every objective

Objectives (latencies count from when the load meant the request to leave, so a
client or queue that holds a request back is charged to it, never hidden):
- `ttft_ms`: intended send -> first content or reasoning chunk;
- `tpot_ms`: mean gap between tokens after the first (1000 / decode tok/s);
- `e2e_ms`: intended send -> last byte;
- `decode_tok_s`: the request's own decode speed.

A failed request (any error) does not conform. A request of one output token
has no gaps: `tpot_ms` and `decode_tok_s` hold for it trivially.

Attainment is conforming / counted with a Wilson 95% interval (a Wald interval
says [1, 1] for 20 of 20; Wilson's does not), and goodput is what the
conforming requests delivered per second of the level's wall time.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scipy.stats import norm

from dyno.bench.scenario import ResultRow
from dyno.client import RequestRecord, derive
from dyno.errors import UsageError


def ttft_judged_ms(r: RequestRecord) -> float | None:
    """TTFT as an SLO judges it: from the intended send time where the load set one."""
    return derive.ttft_from_intended_ms(r) if r.t_intended_ns is not None else derive.ttft_ms(r)


def _e2e(r: RequestRecord) -> float | None:
    start = r.t_intended_ns if r.t_intended_ns is not None else r.t_sent_ns
    return None if r.t_end_ns is None else (r.t_end_ns - start) / 1e6


def tpot_ms(r: RequestRecord) -> float | None:
    """Mean time per output token after the first."""
    tok_s = derive.decode_tok_s(r)
    return None if not tok_s else 1000.0 / tok_s


# name -> (per-request figure, the direction that is good, holds trivially for a one-token answer)
FIGURES: dict[str, tuple[Callable[[RequestRecord], float | None], str, bool]] = {
    "ttft_ms": (ttft_judged_ms, "<=", False),
    "tpot_ms": (tpot_ms, "<=", True),
    "e2e_ms": (_e2e, "<=", False),
    "decode_tok_s": (derive.decode_tok_s, ">=", True),
}
_OPS = {"<=": operator.le, ">=": operator.ge}
_SPEC = re.compile(r"\s*([a-z0-9_]+)\s*(<=|>=)\s*([0-9.eE+-]+)\s*")


@dataclass(frozen=True)
class Objective:
    metric: str
    op: str  # <= | >=
    limit: float

    @property
    def text(self) -> str:
        return f"{self.metric}{self.op}{self.limit:g}"

    def value(self, r: RequestRecord) -> float | None:
        return FIGURES[self.metric][0](r)

    def met(self, r: RequestRecord) -> bool:
        v = self.value(r)
        if v is None:
            return FIGURES[self.metric][2] and (r.output_tokens or 0) <= 1
        return bool(_OPS[self.op](v, self.limit))


def parse_objective(raw: str) -> Objective:
    m = _SPEC.fullmatch(raw)
    names = ", ".join(f"{k}{v[1]}N" for k, v in FIGURES.items())
    if m is None or m.group(1) not in FIGURES:
        raise UsageError(f"--slo {raw!r}: expected one of {names} (e.g. ttft_ms<=500)")
    name, op, limit = m.groups()
    if op != FIGURES[name][1]:
        raise UsageError(f"--slo {raw!r}: {name} is an objective of the form {name}{FIGURES[name][1]}N")
    try:
        value = float(limit)
    except ValueError:
        raise UsageError(f"--slo {raw!r}: the limit must be a number") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--slo {raw!r}: the limit must be a positive number")
    return Objective(name, op, value)


@dataclass(frozen=True)
class SLO:
    objectives: tuple[Objective, ...]

    @classmethod
    def parse(cls, raw: Sequence[str] | None) -> SLO | None:
        """From `--slo` values (each may also be a comma list); None when none was given."""
        parts = [p for r in raw or () for p in r.split(",") if p.strip()]
        if not parts:
            return None
        objectives = tuple(parse_objective(p) for p in parts)
        dup = {o.metric for o in objectives if sum(x.metric == o.metric for x in objectives) > 1}
        if dup:
            raise UsageError(f"--slo names {', '.join(sorted(dup))} twice")
        return cls(objectives)

    @property
    def text(self) -> str:
        return " and ".join(o.text for o in self.objectives)

    def specs(self) -> list[str]:
        return [o.text for o in self.objectives]

    def conforms(self, r: RequestRecord) -> bool:
        return r.ok and all(o.met(r) for o in self.objectives)

    def missed(self, r: RequestRecord) -> list[str]:
        """Which objectives a request missed ("error" for a failed one): what names a limit."""
        if not r.ok:
            return ["error"]
        return [o.metric for o in self.objectives if not o.met(r)]


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes of n (two-sided, `level`)."""
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # At k = 0 or k = n one end is exactly 0 or 1; floating point leaves 0.9999999999999999.
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


@dataclass(frozen=True)
class Difference:
    """Candidate attainment - baseline attainment, with Newcombe's hybrid score interval (his method
    10, from the two Wilson intervals): it stays inside [-1, 1] and holds its level near 0 and 1."""

    diff: float
    low: float
    high: float

    @property
    def within_noise(self) -> bool:
        return self.low <= 0 <= self.high

    def text(self) -> str:
        noise = " ≈ noise" if self.within_noise else ""
        return f"{self.diff * 100:+.0f} pts [{self.low * 100:+.0f}, {self.high * 100:+.0f}]{noise}"


def difference(k1: int, n1: int, k0: int, n0: int, level: float = 0.95) -> Difference | None:
    """Attainment k1/n1 (candidate) minus k0/n0 (baseline); None when either side judged nothing."""
    if not n1 or not n0:
        return None
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson(k1, n1, level)
    l0, u0 = wilson(k0, n0, level)
    d = p1 - p0
    return Difference(
        d, d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    )


@dataclass(frozen=True)
class Attainment:
    """One load level against an SLO."""

    counted: int  # requests judged (failed ones included: they count against)
    conforming: int
    errored: int
    excluded: int  # outside the steady-state window (ramp-up, drain): not judged, but counted
    low: float
    high: float
    goodput_req_s: float | None  # conforming requests per second of the window
    goodput_tok_s: float | None  # their output tokens per second
    missed: dict[str, int]  # objective (or "error") -> requests that missed it

    @property
    def rate(self) -> float | None:
        return self.conforming / self.counted if self.counted else None

    def text(self) -> str:
        if not self.counted:
            return "no requests judged"
        return f"{self.rate:.1%} [{self.low:.1%}, {self.high:.1%}] of {self.counted}" + (
            f" ({self.excluded} outside the steady window)" if self.excluded else ""
        )


def attainment(
    slo: SLO, judged: Sequence[RequestRecord], *, excluded: int = 0, window_s: float | None = None
) -> Attainment:
    """Attainment of `judged` (warm-up excluded by the caller), and goodput over `window_s`."""
    good = [r for r in judged if slo.conforms(r)]
    low, high = wilson(len(good), len(judged))
    missed: dict[str, int] = {}
    for r in judged:
        for m in slo.missed(r):
            missed[m] = missed.get(m, 0) + 1
    per_s = window_s if window_s and window_s > 0 else None
    return Attainment(
        counted=len(judged),
        conforming=len(good),
        errored=sum(not r.ok for r in judged),
        excluded=excluded,
        low=low,
        high=high,
        goodput_req_s=None if per_s is None else len(good) / per_s,
        goodput_tok_s=None if per_s is None else sum(r.output_tokens or 0 for r in good) / per_s,
        missed=missed,
    )


def slo_rows(
    scenario: str, label: str, every: Sequence[RequestRecord], slo: SLO, *, sustained: int | None
) -> list[ResultRow]:
    """A load level's attainment (with its Wilson interval), goodput and, for a sustained level of
    `sustained` streams, the steady window they were judged over (ramp-up and drain excluded)."""
    judged = [r for r in every if r.label != "warmup"]
    window_s, excluded = derive.span_s(judged), 0
    if sustained is not None and (w := derive.steady_window(judged, sustained)) is not None:
        inside = [r for r in judged if derive.in_window(r, w)]
        judged, excluded, window_s = inside, len(judged) - len(inside), (w[1] - w[0]) / 1e9
    a = attainment(slo, judged, excluded=excluded, window_s=window_s)
    if not a.counted or a.rate is None:
        return []
    rows = [
        ResultRow(scenario, label, "slo_attainment", "", a.counted, a.rate, interval=(a.low, a.high)),
        ResultRow.scalar(scenario, label, "goodput_req_s", a.goodput_req_s, n=a.conforming),
        ResultRow.scalar(scenario, label, "goodput_tok_s", a.goodput_tok_s, n=a.conforming),
    ]
    if sustained is not None:
        rows.append(ResultRow.scalar(scenario, label, "steady_s", window_s, n=a.counted))
    return [r for r in rows if r is not None]
