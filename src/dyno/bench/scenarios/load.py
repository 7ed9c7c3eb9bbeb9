"""Concurrency: N streams started together per level; aggregate and per-request speed, queueing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dyno.bench.scenario import BenchContext, ResultRow, ScenarioData, ScenarioOutcome, ScenarioSummary, keep
from dyno.bench.scenarios.config import FieldsConfig
from dyno.bench.scenarios.latency import fixed_length_notes
from dyno.bench.slo import SLO, slo_rows
from dyno.bench.stats import summarize
from dyno.client import derive
from dyno.metrics.vllm import mean_queue_time_s
from dyno.workloads.prompts import PROSE_PROMPTS


@dataclass(frozen=True)
class Concurrency(FieldsConfig):
    """Per level, `level` requests are released at once (`batches` times); every one is salted
    so a shared prompt prefix cannot flatter TTFT."""

    name: ClassVar[str] = "concurrency"
    levels: tuple[int, ...] = (1, 2, 4, 8)
    output_tokens: int = 256
    batches: int = 1
    slo: tuple[str, ...] = field(default=(), metadata={"config": False})  # judges; kept in the facts

    def planned_requests(self, max_model_len: int) -> int:
        return 1 + sum(self.levels) * self.batches

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        prompt = PROSE_PROMPTS[2]
        out = min(self.output_tokens, ctx.max_model_len // 2)
        await ctx.generate(ctx.chat(prompt, 16), scenario=self.name, label="warmup")
        for level in self.levels:
            await ctx.scrape(self.name, f"before:{level}")
            for b in range(self.batches):
                reqs = [ctx.chat(f"[{ctx.salt()}] {prompt}", out, fixed=True) for _ in range(level)]
                await asyncio.gather(
                    *(
                        ctx.generate(r, scenario=self.name, label=str(level), seq=b * level + i)
                        for i, r in enumerate(reqs)
                    )
                )
            await ctx.scrape(self.name, f"after:{level}")
        return ScenarioOutcome(facts={"slo": list(self.slo)} if self.slo else {})

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        rows = []
        slo = SLO.parse(data.facts.get("slo"))
        for label, reqs in data.by_level():
            level = int(label)
            batches: dict[int, list[Any]] = {}
            for r in reqs:
                batches.setdefault(r.seq // level, []).append(r)
            agg = summarize(derive.aggregate_tok_s(b) for b in batches.values())
            before, after = data.scrapes.get(f"before:{label}"), data.scrapes.get(f"after:{label}")
            queue = mean_queue_time_s(before, after) if before and after else None
            rows += keep(
                ResultRow.of(data.name, label, "aggregate_tok_s", agg),
                ResultRow.of(
                    data.name,
                    label,
                    "per_request_tok_s",
                    summarize(derive.decode_tok_s(r) for r in reqs),
                ),
                ResultRow.of(data.name, label, "ttft_ms", summarize(derive.ttft_ms(r) for r in reqs)),
                ResultRow.scalar(data.name, label, "queue_time_ms", None if queue is None else queue * 1000),
            )
            if slo is not None:  # a burst released at once has no steady state: every request is judged
                every = [r for r in data.requests if r.label == label]
                rows += slo_rows(data.name, label, every, slo, sustained=None)
        notes = fixed_length_notes(data.requests)
        failed = [r for r in data.requests if not r.ok]
        if failed:
            notes.append(
                f"{len(failed)} requests failed ({', '.join(sorted({r.error_kind or '' for r in failed}))})"
            )
        return ScenarioSummary(rows, notes)
