"""A capacity run read back: the probes, the answer, the limit, the knee and the plain sentence.

Everything here is derived from what the run stored: each probe's verdict (made
live by the sequential test, kept in its scenario's facts) and its raw
requests, from which attainment, its interval, goodput and the latencies that
explain the limit are computed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dyno.bench.slo import SLO, Attainment, attainment, tpot_ms, ttft_judged_ms
from dyno.bench.stats import percentile
from dyno.capacity.knee import Knee, find_knee
from dyno.capacity.limit import LevelEvidence, Limit, name_limit
from dyno.capacity.probe import SCENARIO, judged_label
from dyno.capacity.search import Answer, ProbeVerdict, answer
from dyno.client import RequestRecord, derive
from dyno.metrics.series import Series
from dyno.store import RunRow, Store, load_run

KNEE_MIN_N = 20


@dataclass(frozen=True)
class ProbeView:
    level: int
    verdict: ProbeVerdict
    attainment: Attainment
    seconds: float
    why: str
    ttft_q_ms: float | None
    tpot_q_ms: float | None
    output_tok_s: float | None  # every judged request's output over the judged window
    series: Series
    quantile: float  # the attainment target: TTFT and TPOT are shown at this quantile of the requests

    def evidence(self, unit: str) -> LevelEvidence:
        return LevelEvidence(
            self.level,
            self.verdict,
            self.attainment.counted,
            self.attainment.missed,
            self.ttft_q_ms,
            self.tpot_q_ms,
            self.series,
            quantile_name(self.quantile),
            unit,
        )


@dataclass(frozen=True)
class CapacityResult:
    run: RunRow
    slo: SLO
    target: float  # the attainment asked for
    max_concurrency: int
    probes: list[ProbeView]  # in the order they ran
    answer: Answer
    limit: Limit
    knee: Knee | None
    requests: int  # every request the search sent (ramp and drain included)
    seconds: float
    unit: str = "streams"  # what a level counts: streams in flight, or users in conversations

    @property
    def one(self) -> str:
        return self.unit.removesuffix("s")

    def probe(self, level: int | None) -> ProbeView | None:
        return next((p for p in self.probes if p.level == level), None)

    @property
    def sentence(self) -> str:
        """The one line a non-specialist can act on."""
        a = self.answer
        who = self.one if a.capacity == 1 else self.unit
        share = (
            f"for {self.target:.0%} of requests"
            if self.unit == "streams"
            else f"for {self.target:.0%} of turns"
        )
        if a.capacity == 0:
            least = min((p.level for p in self.probes), default=1)
            meets = f"{self.one} meets" if least == 1 else f"{self.unit} meet"
            head = f"Capacity: not even {least} {meets} {self.slo.text}"
        else:
            at_least = "at least " if a.at_max else ""
            head = f"Capacity: {at_least}{a.capacity} {who} at once ({self.slo.text}, {share})"
        tail = a.explained
        why = "" if self.limit.kind == "none" else f" It stops there because {self.limit.sentence}."
        return head + (f"; {tail}" if tail else "") + "." + why

    @property
    def knee_sentence(self) -> str:
        if self.knee is None:
            return ""
        holds = f"; your SLO holds to {self.answer.capacity}" if self.answer.capacity else ""
        return f"Throughput plateaus at {self.knee.level} {self.unit} ({self.knee.tok_s:.0f} tok/s){holds}."

    def as_json(self) -> dict[str, Any]:
        def att(p: ProbeView | None) -> dict[str, Any] | None:
            if p is None:
                return None
            a = p.attainment
            return {"level": p.level, "attainment": a.rate, "low": a.low, "high": a.high, "n": a.counted}

        a = self.answer
        return {
            "run_id": self.run.id,
            "sentence": self.sentence,
            "slo": self.slo.specs(),
            "attainment_target": self.target,
            "capacity_concurrency": a.capacity,
            "unit": self.unit,
            "resolved": a.resolved,
            "at_max_concurrency": a.at_max,
            "at_capacity": att(self.probe(a.capacity)),
            "first_failing": att(self.probe(a.above)),
            "limit": {"kind": self.limit.kind, "sentence": self.limit.sentence},
            "knee": None if self.knee is None else {"level": self.knee.level, "tok_s": self.knee.tok_s},
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "probes": [
                {
                    "level": p.level,
                    "verdict": p.verdict,
                    "n": p.attainment.counted,
                    "conforming": p.attainment.conforming,
                    "errored": p.attainment.errored,
                    "excluded": p.attainment.excluded,
                    "attainment": p.attainment.rate,
                    "low": p.attainment.low,
                    "high": p.attainment.high,
                    "goodput_req_s": p.attainment.goodput_req_s,
                    "goodput_tok_s": p.attainment.goodput_tok_s,
                    "output_tok_s": p.output_tok_s,
                    f"ttft_{quantile_name(p.quantile)}_ms": p.ttft_q_ms,
                    f"tpot_{quantile_name(p.quantile)}_ms": p.tpot_q_ms,
                    "missed": p.attainment.missed,
                    "seconds": round(p.seconds, 2),
                    "why": p.why,
                    "series": p.series.as_json(),
                }
                for p in self.probes
            ],
        }


def quantile_name(q: float) -> str:
    return f"p{q * 100:g}"


def _at(xs: list[float | None], q: float) -> float | None:
    vals = sorted(x for x in xs if x is not None)
    return percentile(vals, q * 100) if vals else None


def _view(slo: SLO, q: float, level: int, facts: dict[str, Any], reqs: list[RequestRecord]) -> ProbeView:
    judged = [r for r in reqs if r.label == judged_label(level)]
    ok = [r for r in judged if r.ok]
    window = derive.span_s(judged)
    att = attainment(slo, judged, excluded=len(reqs) - len(judged), window_s=window)
    out_tok = sum(r.output_tokens or 0 for r in ok)
    return ProbeView(
        level=level,
        verdict=facts.get("verdict", "indeterminate"),
        attainment=att,
        seconds=float(facts.get("seconds") or 0.0),
        why=str(facts.get("why") or ""),
        ttft_q_ms=_at([ttft_judged_ms(r) for r in judged if r.ok], q),
        tpot_q_ms=_at([tpot_ms(r) for r in judged if r.ok], q),
        output_tok_s=out_tok / window if window else None,
        series=Series.from_json(facts.get("series")),
        quantile=q,
    )


def summarize_capacity(store: Store, run_id: int) -> CapacityResult:
    run = load_run(store, run_id, "capacity")
    opts = (run.method or {}).get("capacity") or {}
    slo = SLO.parse(opts.get("slo") or [])
    if slo is None:
        raise ValueError(f"capacity run {run_id} stored no SLO")
    by_level: dict[int, list[RequestRecord]] = {}
    every = store.requests(run_id, SCENARIO)
    for r in every:
        if r.label == "warmup":
            continue
        by_level.setdefault(int(r.label.split("/")[0]), []).append(r)
    target = float(opts.get("attainment") or 0.95)
    probes = [
        _view(slo, target, int(sc.config["level"]), sc.facts, by_level.get(int(sc.config["level"]), []))
        for sc in store.scenarios(run_id)
        if sc.name == SCENARIO and sc.facts.get("verdict")
    ]
    max_level = int(opts.get("max_concurrency") or 1)
    unit = str(opts.get("unit") or "streams")  # runs before users were a unit stored none
    ans = answer({p.level: p.verdict for p in probes}, max_level, unit)
    failing = next((p for p in probes if p.level == ans.above), None)
    passing = next((p for p in probes if p.level == ans.capacity), None)
    limit = name_limit(
        failing.evidence(unit) if failing else None, passing.evidence(unit) if passing else None
    )
    # A probe decided in a handful of requests measured its throughput over a moment: not a curve point.
    curve = [
        (p.level, p.output_tok_s) for p in probes if p.output_tok_s and p.attainment.counted >= KNEE_MIN_N
    ]
    return CapacityResult(
        run=run,
        slo=slo,
        target=target,
        max_concurrency=max_level,
        probes=probes,
        answer=ans,
        limit=limit,
        knee=find_knee(curve, force=bool(opts.get("knee"))),
        requests=len(every),
        seconds=sum(p.seconds for p in probes),
        unit=unit,
    )
