"""A tune's objective, measured `repeats` times: decode tok/s per content type, or aggregate tok/s at N.

Acceptance depends on content (high on code and structured output, lower on
prose), so the best draft length does too: a repeat sends every content
type's prompts, and the counters are read around each type, per repeat.
Each repeat gives one value of the objective: the mean decode tok/s over its
requests (content types weigh equally), or, at concurrency N, the aggregate
tok/s of N requests released together.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from dyno.bench.precision import DEFAULT_MAX_REPEATS, most_repeats, repeat
from dyno.bench.scenario import BenchContext, ResultRow, ScenarioData, ScenarioOutcome, ScenarioSummary, keep
from dyno.bench.scenarios.config import NOT_CONFIG, fields_config
from dyno.bench.stats import summarize
from dyno.client import RequestRecord, derive
from dyno.metrics import Scrape
from dyno.metrics.vllm import SpecDecodeDelta, spec_decode_delta
from dyno.workloads.prompts import CONTENT_TYPES


@dataclass(frozen=True)
class Objective:
    name: ClassVar[str] = "objective"
    concurrency: int = 1  # 1: decode tok/s; N: aggregate tok/s of N at once
    contents: tuple[str, ...] = ("code", "prose", "json")
    repeats: int = 3
    prompts_per_type: int = 1
    max_tokens: int = 128
    # tune --precision: repeat until the objective's 95% interval is this close (relative); how long
    # to measure, not what is measured, so it is left out of the config runs are compared by.
    precision: float | None = field(default=None, metadata=NOT_CONFIG)
    max_repeats: int = field(default=DEFAULT_MAX_REPEATS, metadata=NOT_CONFIG)

    def config(self) -> dict[str, Any]:
        objective = "decode_tok_s@1" if self.concurrency == 1 else f"aggregate_tok_s@{self.concurrency}"
        return fields_config(self, objective=objective)

    def _per_repeat(self) -> int:
        return len(self.contents) * self.prompts_per_type * self.concurrency

    def planned_requests(self, max_model_len: int) -> int:
        return 1 + most_repeats(self.repeats, self.precision, self.max_repeats) * self._per_repeat()

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        await ctx.generate(ctx.chat(CONTENT_TYPES["prose"][0], 8), scenario=self.name, label="warmup")
        batches = len(self.contents) * self.prompts_per_type

        async def one(r: int) -> float | None:
            """Repeat r: every content type's prompts; its objective value (None: nothing usable)."""
            seq = r * self._per_repeat()
            mine: list[RequestRecord] = []
            for kind in self.contents:
                prompts = CONTENT_TYPES[kind]
                await ctx.scrape(self.name, f"before:{kind}:{r}")
                for i in range(self.prompts_per_type):
                    # Natural length: acceptance on text past an answer's end says nothing of real traffic.
                    req = ctx.chat(prompts[i % len(prompts)], self.max_tokens)
                    batch = [
                        ctx.generate(req, scenario=self.name, label=kind, seq=seq + j)
                        for j in range(self.concurrency)
                    ]
                    mine += await asyncio.gather(*batch)
                    seq += self.concurrency
                await ctx.scrape(self.name, f"after:{kind}:{r}")
            values = repeat_values(mine, self.concurrency, batches)
            return values[0] if values else None

        reached = await repeat(
            one,
            self.repeats,
            self.precision,
            self.max_repeats,
            label="objective",
            figure=self.config()["objective"],
        )
        if reached is None:
            return ScenarioOutcome()
        return ScenarioOutcome(notes=(reached.note(),), facts={"precision": [asdict(reached)]})

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        rows: list[ResultRow] = []
        groups = data.by_label()
        for kind, reqs in groups.items():
            rows += keep(
                ResultRow.of(data.name, kind, "decode_tok_s", summarize(derive.decode_tok_s(r) for r in reqs))
            )
            d = spec_totals(data.scrapes, kind)
            if d is not None and d.active:
                rows += keep(
                    ResultRow.scalar(data.name, kind, "acceptance_rate", d.acceptance_rate, n=int(d.drafts)),
                    ResultRow.scalar(
                        data.name, kind, "mean_acceptance_length", d.mean_acceptance_length, n=int(d.drafts)
                    ),
                    *(
                        ResultRow.scalar(data.name, kind, f"accept_at_{i + 1}", rate, n=int(d.drafts))
                        for i, rate in enumerate(d.per_position_rate)
                    ),
                )
        cfg = data.config
        samples = repeat_values(
            data.requests,
            int(cfg.get("concurrency", 1)),
            len(cfg.get("contents", [])) * int(cfg.get("prompts_per_type", 1)),
        )
        rows += keep(ResultRow.of(data.name, "all", "objective", summarize(samples)))
        return ScenarioSummary(rows, [])


def spec_totals(scrapes: dict[str, Scrape], kind: str | None = None) -> SpecDecodeDelta | None:
    """Speculation counters summed over every repeat (of one content type, or of all)."""
    total: SpecDecodeDelta | None = None
    for label, before in scrapes.items():
        if not label.startswith("before:"):
            continue
        _, k, r = [*label.split(":"), "", ""][:3]
        if kind is not None and k != kind:
            continue
        after = scrapes.get(f"after:{k}:{r}")
        d = spec_decode_delta(before, after) if after else None
        if d is None:
            continue
        if total is None:
            total = d
            continue
        n = max(len(total.accepted_per_position), len(d.accepted_per_position))
        pos = tuple(
            (total.accepted_per_position[i] if i < len(total.accepted_per_position) else 0.0)
            + (d.accepted_per_position[i] if i < len(d.accepted_per_position) else 0.0)
            for i in range(n)
        )
        total = SpecDecodeDelta(
            total.drafts + d.drafts,
            total.draft_tokens + d.draft_tokens,
            total.accepted_tokens + d.accepted_tokens,
            pos,
        )
    return total


def repeat_values(requests: list[RequestRecord], concurrency: int, per_repeat_batches: int) -> list[float]:
    """One objective value per repeat, from the stored requests (warm-up excluded)."""
    measured = sorted((r for r in requests if r.label != "warmup" and r.ok), key=lambda r: r.seq)
    size = per_repeat_batches * concurrency
    out = []
    for start in range(0, (max((r.seq for r in measured), default=-1) + 1), size):
        mine = [r for r in measured if start <= r.seq < start + size]
        if not mine:
            continue
        if concurrency == 1:
            vals = [v for r in mine if (v := derive.decode_tok_s(r)) is not None]
            if vals:
                out.append(statistics.fmean(vals))
        else:
            batches = [mine[i : i + concurrency] for i in range(0, len(mine), concurrency)]
            aggs = [a for b in batches if (a := derive.aggregate_tok_s(b)) is not None]
            if aggs:
                out.append(statistics.fmean(aggs))
    return out
