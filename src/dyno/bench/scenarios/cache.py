"""Prefix cache: a long shared prefix sent cold, then warm; the counters must agree."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import ClassVar

from dyno.bench.scenario import BenchContext, ResultRow, ScenarioData, ScenarioOutcome, ScenarioSummary, keep
from dyno.bench.scenarios.config import FieldsConfig
from dyno.bench.stats import summarize
from dyno.client import derive
from dyno.metrics.vllm import prefix_cache_delta
from dyno.workloads.synthetic import exact_prompt

COLD_QUESTION = "\n\nQuestion: in one sentence, what is this text about?"
WARM_QUESTION = "\n\nQuestion: name one place the text mentions."
COLD_MAX_HIT_RATE = 0.2  # a few template tokens may hit; the salted prefix must not
WARM_MIN_HIT_RATE = 0.5  # most of the prompt is the shared prefix


@dataclass(frozen=True)
class PrefixCache(FieldsConfig):
    """Per repeat: a fresh salt makes the prefix new (the cold request truly misses), then the same
    prefix with another question must hit. The miss and the hit are checked against
    `vllm:prefix_cache_hits` / `_queries` deltas; without them the result is 'unverified'."""

    name: ClassVar[str] = "prefix-cache"
    prefix_tokens: int = 8192
    repeat: int = 3

    def planned_requests(self, max_model_len: int) -> int:
        return 2 * self.repeat

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        target = min(self.prefix_tokens, int(ctx.max_model_len * 0.6))
        notes = (
            []
            if target == self.prefix_tokens
            else [f"prefix scaled to {target} tokens (max_model_len {ctx.max_model_len})"]
        )
        for i in range(self.repeat):
            prefix = (await exact_prompt(ctx.tokenizer, target, salt=ctx.salt())).text
            for label, question in (("cold", COLD_QUESTION), ("warm", WARM_QUESTION)):
                await ctx.scrape(self.name, f"before:{label}:{i}")
                await ctx.generate(ctx.chat(prefix + question, 16), scenario=self.name, label=label, seq=i)
                await ctx.scrape(self.name, f"after:{label}:{i}")
        return ScenarioOutcome(notes=tuple(notes))

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        groups = data.by_label()
        cold, warm = groups.get("cold", []), groups.get("warm", [])
        rows = []
        for label, reqs in (("cold", cold), ("warm", warm)):
            rates = []
            for r in reqs:
                b, a = data.scrapes.get(f"before:{label}:{r.seq}"), data.scrapes.get(f"after:{label}:{r.seq}")
                d = prefix_cache_delta(b, a) if b and a else None
                if d is not None and d.hit_rate is not None:
                    rates.append(d.hit_rate)
            rows += keep(
                ResultRow.of(data.name, label, "ttft_ms", summarize(derive.ttft_ms(r) for r in reqs)),
                ResultRow.of(data.name, label, "prompt_tokens", summarize(r.prompt_tokens for r in reqs)),
                ResultRow.of(data.name, label, "cache_hit_rate", summarize(rates)),
            )
        notes = []
        cold_t = [t for r in cold if (t := derive.ttft_ms(r))]
        warm_t = [t for r in warm if (t := derive.ttft_ms(r))]
        if cold_t and warm_t:
            speedup = statistics.median(cold_t) / statistics.median(warm_t)
            rows += keep(
                ResultRow.scalar(
                    data.name, "warm vs cold", "ttft_speedup", speedup, n=min(len(cold_t), len(warm_t))
                )
            )
        notes.append(verdict(rows))
        return ScenarioSummary(rows, notes)


def verdict(rows: list[ResultRow]) -> str:
    hit = {r.label: r for r in rows if r.metric == "cache_hit_rate"}
    if "cold" not in hit or "warm" not in hit:
        return "unverified: no prefix-cache counters on /metrics, so a hit cannot be told from a miss"
    cold_max = hit["cold"].max if hit["cold"].max is not None else 1.0
    warm_min = hit["warm"].min if hit["warm"].min is not None else 0.0
    if cold_max <= COLD_MAX_HIT_RATE and warm_min >= WARM_MIN_HIT_RATE:
        return (
            f"verified: cold requests hit at most {cold_max:.0%} of their prompt tokens, "
            f"warm requests at least {warm_min:.0%}"
        )
    return (
        f"NOT verified: cold hit rate up to {cold_max:.0%} (want <= {COLD_MAX_HIT_RATE:.0%}), warm hit "
        f"rate down to {warm_min:.0%} (want >= {WARM_MIN_HIT_RATE:.0%}); is prefix caching on?"
    )
