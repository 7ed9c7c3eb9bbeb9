"""Workload: the load a user asks for, with the field's knobs, and timing that counts the client's cost.

Two ways to apply load, as `vllm bench serve`, GuideLLM and AIPerf do:
- sustained concurrency (`--concurrency N --requests|--duration`): N requests
  in flight at all times; a slot that frees starts the next request at once;
- a request rate (`--rate R --arrival poisson|constant`): an open loop whose
  send times are drawn before the run from a seeded generator.

Every request stores when it was meant to leave (`t_intended_ns`) next to when
it reached the wire (`t_sent_ns`): latency is reported from both, and the gap
(dispatch delay) is a figure of its own, so a client that falls behind shows
up as such instead of as server latency (no coordinated omission).

Prompts: the user's dataset (JSONL or ShareGPT), or synthetic prompts of
`--input-tokens` tokens (fixed or a distribution), each salted first so no
prefix cache serves one from another. Output: `--output-tokens` (fixed or a
distribution, held by ignore_eos), else each dataset item's own budget.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dyno.bench.arrivals import schedule
from dyno.bench.execute import Job
from dyno.bench.scenario import BenchContext, ResultRow, ScenarioData, ScenarioOutcome, ScenarioSummary, keep
from dyno.bench.scenarios.latency import fixed_length_notes
from dyno.bench.slo import SLO, slo_rows
from dyno.bench.stats import summarize
from dyno.client import GenRequest, RequestRecord, derive
from dyno.metrics.prom import Scrape
from dyno.metrics.vllm import prefix_cache_delta
from dyno.workloads.dataset import Dataset
from dyno.workloads.prefixes import (
    DEFAULT_BLOCK_TOKENS,
    PrefixPlan,
    SharedPrefixes,
    plan_prefixes,
    theoretical_hits,
)
from dyno.workloads.shapes import Lengths
from dyno.workloads.synthetic import calibrated_prompt

DEFAULT_OUTPUT = Lengths("fixed", 128)
DEFAULT_MAX_CONCURRENCY = 256  # a rate load's cap on requests in flight (vllm bench serve: unbounded)


def level_label(mode: str, level: float) -> str:
    return f"c{int(level)}" if mode == "concurrent" else f"r{level:g}"


@dataclass(frozen=True)
class Workload:
    name: ClassVar[str] = "workload"
    mode: str = "concurrent"  # concurrent | rate
    levels: tuple[float, ...] = (1,)  # concurrency per level, or requests per second
    requests: int | None = 64  # per level; None: until `duration_s`
    duration_s: float | None = None  # per level; with `requests`, whichever comes first
    input_tokens: Lengths | None = None  # synthetic prompts of this length
    output_tokens: Lengths | None = None  # None: the dataset's own budgets, else DEFAULT_OUTPUT
    dataset: Dataset | None = field(default=None, compare=False)
    arrival: str = "poisson"
    seed: int = 0
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    warmup: int = 1
    prefixes: SharedPrefixes | None = None  # synthetic prompts open with one of G shared prefixes
    slo: tuple[str, ...] = ()  # judged per level; kept in the facts, not the config: it judges, not loads

    def config(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "levels": list(self.levels),
            "requests": self.requests,
            "duration_s": self.duration_s,
            "input_tokens": self.input_tokens.spec() if self.input_tokens else None,
            "output_tokens": self.output_tokens.spec() if self.output_tokens else None,
            "dataset": self.dataset.spec() if self.dataset else None,
            "arrival": self.arrival if self.mode == "rate" else None,
            "seed": self.seed,
            "max_concurrency": self.max_concurrency if self.mode == "rate" else None,
            **({"prefixes": self.prefixes.spec()} if self.prefixes else {}),
        }

    def _count(self, level: float) -> int:
        if self.requests is not None:
            return self.requests
        if self.mode == "rate" and self.duration_s is not None:
            return max(1, int(level * self.duration_s))
        return int(level) * 8  # a guess for the progress bar only

    def planned_requests(self, max_model_len: int) -> int:
        return self.warmup + sum(self._count(lv) for lv in self.levels)

    async def make_requests(
        self, ctx: BenchContext, n: int, rng: random.Random, prefixes: PrefixPlan | None = None
    ) -> list[GenRequest]:
        """`n` requests, drawn from the seeded generator: prompts and output lengths; with shared
        prefixes, each synthetic prompt is one of them, then `input_tokens` of its own."""
        if self.prefixes and prefixes is None:
            prefixes = await plan_prefixes(ctx.tokenizer, self.prefixes, ctx.salt())
        out_len = self.output_tokens or (None if self.dataset else DEFAULT_OUTPUT)
        reqs = []
        items = list(self.dataset.items) if self.dataset else []
        rng.shuffle(items)
        for i in range(n):
            max_tokens = out_len.draw(rng) if out_len else None
            if items:
                item = items[i % len(items)]
                budget = max_tokens or item.max_tokens or DEFAULT_OUTPUT.upper
                common: dict[str, Any] = {
                    "max_tokens": budget,
                    "temperature": 0.0,
                    "ignore_eos": out_len is not None,
                }
                if item.prompt is not None:
                    reqs.append(GenRequest(ctx.model, prompt=item.prompt, endpoint="completions", **common))
                else:
                    reqs.append(GenRequest(ctx.model, item.messages, **common))
                continue
            want = (self.input_tokens or Lengths("fixed", 128)).draw(rng)
            if prefixes is not None:
                text = await prefixes.text(ctx.tokenizer, want, salt=ctx.salt(), rng=rng)
            else:
                text = await calibrated_prompt(ctx.tokenizer, want, salt=ctx.salt())
            reqs.append(ctx.chat(text, max_tokens or DEFAULT_OUTPUT.upper, fixed=True))
        return reqs

    def _jobs(self, reqs: list[GenRequest], label: str, level: float, rng: random.Random) -> list[Job]:
        """The level's jobs; a rate load's intended send times are fixed here, before anything is sent."""
        if self.mode == "concurrent":
            return [Job(r, self.name, label, i) for i, r in enumerate(reqs)]
        due = schedule(
            level, self.arrival, rng.randrange(2**31), requests=len(reqs), duration_s=self.duration_s
        )
        return [Job(reqs[i], self.name, label, i, int(offset * 1e9)) for i, offset in enumerate(due)]

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        rng = random.Random(self.seed)
        notes: list[str] = []
        plan = await plan_prefixes(ctx.tokenizer, self.prefixes, ctx.salt()) if self.prefixes else None
        order: list[tuple[str, int, int]] = []  # (label, seq, prefix group), in send order

        def drawn(label: str, n: int) -> None:
            if plan is not None:
                order.extend((label, i, g) for i, g in enumerate(plan.drawn[-n:]))

        if self.warmup:
            warm = await self.make_requests(ctx, self.warmup, random.Random(self.seed - 1), plan)
            drawn("warmup", len(warm))
            for i, r in enumerate(warm):
                await ctx.generate(r, scenario=self.name, label="warmup", seq=i)
        for level in self.levels:
            label = level_label(self.mode, level)
            reqs = await self.make_requests(ctx, self._count(level), rng, plan)
            drawn(label, len(reqs))
            jobs = self._jobs(reqs, label, level, rng)
            slots = int(level) if self.mode == "concurrent" else self.max_concurrency
            if ctx.workers <= 1:
                await ctx.client.warm(min(slots, 64))
            await ctx.scrape(self.name, f"before:{label}")
            await ctx.run_jobs(jobs, mode=self.mode, slots=slots, deadline_s=self.duration_s)
            await ctx.scrape(self.name, f"after:{label}")
        if self.input_tokens is not None and not ctx.tokenizer.exact:
            notes.append(
                f"prompt lengths are estimates ({ctx.tokenizer.method}); the server's counts are stored"
            )
        facts: dict[str, Any] = {"slo": list(self.slo)} if self.slo else {}
        if plan is not None:
            facts["prefixes"] = plan.facts(order)
            if not plan.exact:
                notes.append("shared prefix lengths are estimates: the server gave no token ids")
        return ScenarioOutcome(notes=tuple(notes), facts=facts)

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        rows: list[ResultRow] = []
        slo = SLO.parse(data.facts.get("slo"))
        for label, reqs in data.by_label().items():
            every = [r for r in data.requests if r.label == label]
            rows += load_rows(data.name, label, reqs, every)
            if slo is not None:
                sustained = int(label[1:]) if label.startswith("c") else None  # a rate level has no target
                rows += slo_rows(data.name, label, every, slo, sustained=sustained)
        notes = fixed_length_notes(data.requests)
        if data.facts.get("prefixes"):
            prefix_rows, prefix_notes = prefix_cache_rows(data)
            rows += prefix_rows
            notes += prefix_notes
        if slo is not None:
            notes.append(
                f"SLO {slo.text}: a sustained level is judged over its steady window (>= 95% of its "
                "streams in flight; ramp-up and drain excluded), a rate level over every request"
            )
        return ScenarioSummary(rows, notes)


GAP = 0.8  # a cache serving under this share of what it could is named


def cache_gap_note(served: float, could: float, why: str) -> str | None:
    """The note for a prefix cache that served far less than an unlimited one could; None when close."""
    if served >= GAP * could:
        return None
    return f"the cache served {served:.0%} of prompt tokens where {could:.0%} could be: {why}"


def block_tokens(scrapes: dict[str, Scrape]) -> int | None:
    """The KV block size the server reports (vLLM's cache_config_info); None when it does not say."""
    for scrape in scrapes.values():
        sizes = scrape.by_label("vllm:cache_config_info", "block_size")
        if sizes:
            return int(next(iter(sizes)))
    return None


def prefix_cache_rows(data: ScenarioData) -> tuple[list[ResultRow], list[str]]:
    """Per level: the prefix-cache hit rate the counters measured beside what an unlimited cache
    would serve of the same prompts, and a note that names the gap."""
    facts = data.facts["prefixes"]
    block = block_tokens(data.scrapes)
    prompts = {(r.label, r.seq): r.prompt_tokens for r in data.requests if r.prompt_tokens}
    bound = theoretical_hits(facts, prompts, block or DEFAULT_BLOCK_TOKENS)
    rows: list[ResultRow] = []
    notes = [
        f"shared prefixes: {facts['groups']} of {facts['tokens']} tokens (zipf {facts['zipf']:g}); "
        f"an unlimited cache of {block or DEFAULT_BLOCK_TOKENS}-token blocks"
        + ("" if block else " (assumed: the server does not say its block size)")
        + " is the bound each level's measured hit rate is set against"
    ]
    for label, b in bound.items():
        if label == "warmup":
            continue
        before, after = data.scrapes.get(f"before:{label}"), data.scrapes.get(f"after:{label}")
        d = prefix_cache_delta(before, after) if before and after else None
        rows += keep(
            ResultRow.scalar(data.name, label, "cache_hit_rate_bound", b.hit_rate, n=b.queries),
            ResultRow.scalar(
                data.name, label, "cache_hit_rate", d.hit_rate if d else None, n=int(d.queries) if d else 1
            ),
        )
        if d is None or d.hit_rate is None or b.hit_rate is None:
            notes.append(f"{label}: no prefix-cache counters on /metrics, so the hit rate is not measured")
        elif gap := cache_gap_note(
            d.hit_rate,
            b.hit_rate,
            "prefix caching off, the KV cache too small to hold every prefix (evicting), or concurrent "
            "requests of a group prefilling before its first one was cached",
        ):
            notes.append(f"{label}: {gap}")
    return rows, notes


def load_rows(
    scenario: str, label: str, ok: list[RequestRecord], every: list[RequestRecord]
) -> list[ResultRow]:
    """One load level: throughput, latency from the wire and from the schedule, dispatch delay."""
    span = derive.span_s(every)
    out_tokens = sum(r.output_tokens or 0 for r in ok)
    return keep(
        ResultRow.scalar(scenario, label, "throughput_req_s", len(ok) / span if span else None, n=len(ok)),
        ResultRow.scalar(scenario, label, "output_tok_s", out_tokens / span if span else None, n=len(ok)),
        ResultRow.of(scenario, label, "ttft_ms", summarize(derive.ttft_ms(r) for r in ok)),
        ResultRow.of(
            scenario, label, "ttft_from_intended_ms", summarize(derive.ttft_from_intended_ms(r) for r in ok)
        ),
        ResultRow.of(
            scenario, label, "dispatch_delay_ms", summarize(derive.dispatch_delay_ms(r) for r in every)
        ),
        ResultRow.of(scenario, label, "itl_ms", summarize(x for r in ok for x in derive.itl_ms(r))),
        ResultRow.of(scenario, label, "per_request_tok_s", summarize(derive.decode_tok_s(r) for r in ok)),
        ResultRow.of(scenario, label, "e2e_s", summarize(derive.e2e_s(r) for r in ok)),
        ResultRow.of(scenario, label, "prompt_tokens", summarize(r.prompt_tokens for r in ok)),
        ResultRow.of(scenario, label, "output_tokens", summarize(r.output_tokens for r in ok)),
        ResultRow.of(scenario, label, "server_ttft_ms", summarize(derive.server_ttft_ms(r) for r in ok)),
        ResultRow.of(
            scenario, label, "client_overhead_ms", summarize(derive.client_overhead_ms(r) for r in ok)
        ),
    )
