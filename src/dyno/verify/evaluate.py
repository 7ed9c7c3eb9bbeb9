"""Judge a verify suite from its stored rows: the scenario config plus the raw request records.

The runner calls this to write a scenario's facts; `dyno report` calls it
again on the stored rows, so both always agree. Records are paired by
(label, seq): label "candidate" or "baseline", seq the item's index.
A request that failed, or never ran, counts against its side (a mismatch,
a wrong answer, an invalid tool call) with its error kept for the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from dyno.client.records import RequestRecord
from dyno.client.toolcheck import REASONS, ToolVerdict, check_tool_call
from dyno.verify.answers import extract_answer, is_correct
from dyno.verify.divergence import Divergence, first_divergence
from dyno.verify.stats import PairedOutcome, paired_outcome

MATCH_RATE_BAR = 0.8  # the engine's own bar: >= 80% of prompts identical under greedy decoding
SIDES = ("candidate", "baseline")
# Which question a candidate's answers face: "identical" (lossless) or "not worse" (quality).
GateTest = Literal["lossless", "quality"]
GATE_TESTS: tuple[GateTest, ...] = ("lossless", "quality")


@dataclass(frozen=True)
class Answer:
    text: str
    tool_calls: tuple[dict[str, Any], ...]
    error: str | None  # "timeout: ..." when the request failed, "not run" when there is no record


def answer_of(rec: RequestRecord | None) -> Answer:
    if rec is None:
        return Answer("", (), "not run (no stored answer)")
    if not rec.ok:
        return Answer(rec.output_text, rec.tool_calls, f"{rec.error_kind}: {(rec.error_message or '')[:300]}")
    return Answer(rec.output_text, rec.tool_calls, None)


def _pairs(records: Iterable[RequestRecord], n: int) -> list[tuple[Answer, Answer]]:
    by: dict[tuple[str, int], RequestRecord] = {}
    for r in records:
        by[(r.label, r.seq)] = r  # a later record for the same item wins
    return [(answer_of(by.get(("candidate", i))), answer_of(by.get(("baseline", i)))) for i in range(n)]


@dataclass(frozen=True)
class LosslessItem:
    index: int
    id: str
    content_type: str
    match: bool
    divergence: Divergence | None  # when both answered and differ
    candidate_error: str | None
    baseline_error: str | None


@dataclass(frozen=True)
class LosslessResult:
    items: tuple[LosslessItem, ...]
    bar: float = MATCH_RATE_BAR

    @property
    def n(self) -> int:
        return len(self.items)

    @property
    def matches(self) -> int:
        return sum(1 for i in self.items if i.match)

    @property
    def match_rate(self) -> float | None:
        return self.matches / self.n if self.n else None

    @property
    def passed(self) -> bool:
        return self.match_rate is not None and self.match_rate >= self.bar

    def by_type(self) -> dict[str, tuple[int, int]]:
        """content type -> (matches, prompts)."""
        out: dict[str, tuple[int, int]] = {}
        for i in self.items:
            m, n = out.get(i.content_type, (0, 0))
            out[i.content_type] = (m + i.match, n + 1)
        return out


@dataclass(frozen=True)
class MathItem:
    index: int
    id: str
    expected: str
    candidate_answer: str | None
    baseline_answer: str | None
    candidate_correct: bool
    baseline_correct: bool
    candidate_error: str | None
    baseline_error: str | None


@dataclass(frozen=True)
class MathResult:
    items: tuple[MathItem, ...]
    paired: PairedOutcome

    def accuracy(self, side: str) -> float | None:
        if not self.items:
            return None
        right = self.paired.candidate_right if side == "candidate" else self.paired.baseline_right
        return right / len(self.items)


@dataclass(frozen=True)
class ToolItem:
    index: int
    id: str
    expected_function: str
    candidate: ToolVerdict
    baseline: ToolVerdict


@dataclass(frozen=True)
class ToolsResult:
    items: tuple[ToolItem, ...]
    paired: PairedOutcome

    def validity_rate(self, side: str) -> float | None:
        if not self.items:
            return None
        valid = self.paired.candidate_right if side == "candidate" else self.paired.baseline_right
        return valid / len(self.items)

    def reasons(self, side: str) -> dict[str, int]:
        counts = Counter(getattr(i, side).reason for i in self.items)
        return {r: counts[r] for r in REASONS if counts[r]}


SuiteResult = LosslessResult | MathResult | ToolsResult


def judge_lossless(config: dict[str, Any], records: Iterable[RequestRecord]) -> LosslessResult:
    items = config["items"]
    out = []
    for i, (cand, base) in enumerate(_pairs(records, len(items))):
        both = cand.error is None and base.error is None
        match = both and cand.text == base.text
        div = first_divergence(cand.text, base.text) if both and not match else None
        out.append(
            LosslessItem(
                i, items[i]["id"], items[i].get("content_type", "?"), match, div, cand.error, base.error
            )
        )
    return LosslessResult(tuple(out))


def judge_math(config: dict[str, Any], records: Iterable[RequestRecord]) -> MathResult:
    items = config["items"]
    out = []
    for i, (cand, base) in enumerate(_pairs(records, len(items))):
        expected = str(items[i]["answer"])
        got_c = extract_answer(cand.text) if cand.error is None else None
        got_b = extract_answer(base.text) if base.error is None else None
        out.append(
            MathItem(
                i,
                items[i]["id"],
                expected,
                got_c,
                got_b,
                is_correct(got_c, expected),
                is_correct(got_b, expected),
                cand.error,
                base.error,
            )
        )
    paired = paired_outcome([m.candidate_correct for m in out], [m.baseline_correct for m in out])
    return MathResult(tuple(out), paired)


def _schema(item: dict[str, Any]) -> dict[str, Any]:
    for tool in item["tools"]:
        fn = tool.get("function", tool)
        if fn.get("name") == item["expected_function"]:
            schema: dict[str, Any] = fn.get("parameters") or {}
            return schema
    return {}


def judge_tools(config: dict[str, Any], records: Iterable[RequestRecord]) -> ToolsResult:
    items = config["items"]
    out = []
    for i, (cand, base) in enumerate(_pairs(records, len(items))):
        expected, schema = items[i]["expected_function"], _schema(items[i])

        def verdict(a: Answer, expected: str = expected, schema: dict[str, Any] = schema) -> ToolVerdict:
            return check_tool_call(
                a.tool_calls, expected_function=expected, schema=schema, error=a.error, content=a.text
            )

        out.append(ToolItem(i, items[i]["id"], expected, verdict(cand), verdict(base)))
    paired = paired_outcome([t.candidate.valid for t in out], [t.baseline.valid for t in out])
    return ToolsResult(tuple(out), paired)


def judge(suite: str, config: dict[str, Any], records: Iterable[RequestRecord]) -> SuiteResult:
    if suite == "lossless":
        return judge_lossless(config, records)
    if suite == "math":
        return judge_math(config, records)
    if suite == "tools":
        return judge_tools(config, records)
    raise ValueError(f"unknown verify suite {suite!r}")


def _paired_facts(p: PairedOutcome) -> dict[str, Any]:
    return asdict(p) | {"significant": p.significant, "candidate_worse": p.candidate_worse}


def _verdict_facts(v: ToolVerdict) -> dict[str, Any]:
    return asdict(v) | {"valid": v.valid}


_NO_DIVERGENCE = {f.name: None for f in fields(Divergence)}


def facts(result: SuiteResult) -> dict[str, Any]:
    """The judged outcome, JSON-ready: the scenario row's facts and the body of the JSON report.

    Keys are documented in dyno.report.verify.
    """
    if isinstance(result, LosslessResult):
        mismatches = [
            {"index": i.index, "id": i.id, "content_type": i.content_type}
            | (asdict(i.divergence) if i.divergence else _NO_DIVERGENCE)
            | {"candidate_error": i.candidate_error, "baseline_error": i.baseline_error}
            for i in result.items
            if not i.match
        ]
        return {
            "n": result.n,
            "matches": result.matches,
            "match_rate": result.match_rate,
            "bar": result.bar,
            "passed": result.passed,
            "by_type": {k: {"matches": m, "n": n} for k, (m, n) in result.by_type().items()},
            "mismatches": mismatches,
        }
    if isinstance(result, MathResult):
        return {
            "n": len(result.items),
            "candidate_accuracy": result.accuracy("candidate"),
            "baseline_accuracy": result.accuracy("baseline"),
            "mcnemar": _paired_facts(result.paired),
            "items": [asdict(m) for m in result.items],
        }
    return {
        "n": len(result.items),
        "candidate_validity": result.validity_rate("candidate"),
        "baseline_validity": result.validity_rate("baseline"),
        "candidate_reasons": result.reasons("candidate"),
        "baseline_reasons": result.reasons("baseline"),
        "mcnemar": _paired_facts(result.paired),
        "items": [
            {
                "index": t.index,
                "id": t.id,
                "expected_function": t.expected_function,
                "candidate": _verdict_facts(t.candidate),
                "baseline": _verdict_facts(t.baseline),
            }
            for t in result.items
        ],
    }


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...]  # why it failed; empty when it passed

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def verdict(results: Iterable[SuiteResult], test: GateTest = "lossless") -> Verdict:
    """Whether the candidate's answers pass the `test` its change calls for.

    lossless (speculative decoding, which must not change a token): fails when the match rate is
    under the bar, or math is significantly worse on the candidate.
    quality (a dtype, quantization or KV-cache dtype change, whose outputs always differ a little):
    the match rate is shown but never rejects; math or tool-call validity significantly worse
    (exact McNemar) does. Under the lossless test tool-call validity is reported but does not gate:
    it depends on the server's parser flags as much as on the model.
    """
    why = []
    for r in results:
        if isinstance(r, LosslessResult) and not r.passed and test == "lossless":
            rate = r.match_rate
            shown = "no prompts" if rate is None else f"{rate:.1%} ({r.matches}/{r.n})"
            why.append(f"lossless match rate {shown} is below the {r.bar:.0%} bar")
        if isinstance(r, MathResult) and r.paired.candidate_worse:
            p = r.paired
            why.append(
                f"math accuracy is significantly worse on the candidate "
                f"(b={p.b}, c={p.c}, exact McNemar p={p.p_value:.4g})"
            )
        if isinstance(r, ToolsResult) and r.paired.candidate_worse and test == "quality":
            p = r.paired
            why.append(
                f"tool-call validity is significantly worse on the candidate "
                f"(b={p.b}, c={p.c}, exact McNemar p={p.p_value:.4g})"
            )
    return Verdict(not why, tuple(why))
