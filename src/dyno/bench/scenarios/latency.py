"""Single-stream scenarios: decode speed, time to first token, prefill speed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from dyno.bench.precision import DEFAULT_MAX_REPEATS, most_repeats, repeat
from dyno.bench.scenario import BenchContext, ResultRow, ScenarioData, ScenarioOutcome, ScenarioSummary, keep
from dyno.bench.scenarios.config import NOT_CONFIG, FieldsConfig, fields_config
from dyno.bench.stats import summarize
from dyno.client import RequestRecord, derive
from dyno.workloads.prompts import PROSE_PROMPTS, SHORT_PROMPT
from dyno.workloads.synthetic import exact_prompt

MARGIN_TOKENS = 8  # room for the chat template's end-of-turn tokens


def fixed_length_notes(reqs: list[RequestRecord]) -> list[str]:
    """Say so when a server ignored `ignore_eos` (decode lengths are then not what was asked)."""
    fixed = [r for r in reqs if r.ok and r.params.get("ignore_eos")]
    short = [r for r in fixed if (r.output_tokens or 0) < int(r.params.get("max_tokens", 0))]
    if not short:
        return []
    return [
        f"fixed length not enforced: {len(short)} of {len(fixed)} requests stopped before max_tokens "
        "although ignore_eos was sent (the server does not support it); decode figures use what came back"
    ]


def latency_rows(scenario: str, label: str, reqs: list[RequestRecord]) -> list[ResultRow]:
    return keep(
        ResultRow.of(scenario, label, "decode_tok_s", summarize(derive.decode_tok_s(r) for r in reqs)),
        ResultRow.of(scenario, label, "ttft_ms", summarize(derive.ttft_ms(r) for r in reqs)),
        ResultRow.of(scenario, label, "itl_ms", summarize(x for r in reqs for x in derive.itl_ms(r))),
        ResultRow.of(scenario, label, "e2e_s", summarize(derive.e2e_s(r) for r in reqs)),
        ResultRow.of(scenario, label, "output_tokens", summarize(r.output_tokens for r in reqs)),
        # Only where the server reports its own timing (vLLM --enable-per-request-metrics, llama.cpp).
        ResultRow.of(scenario, label, "server_ttft_ms", summarize(derive.server_ttft_ms(r) for r in reqs)),
        ResultRow.of(
            scenario, label, "client_overhead_ms", summarize(derive.client_overhead_ms(r) for r in reqs)
        ),
    )


@dataclass(frozen=True)
class Decode:
    """Single-stream decode speed at fixed output lengths, prefill excluded, warm-up excluded."""

    name: ClassVar[str] = "decode"
    lengths: tuple[int, ...] = (128, 512, 2048)
    repeat: int = 5
    precision: float | None = field(default=None, metadata=NOT_CONFIG)  # ±, relative: 0.05
    max_repeats: int = field(default=DEFAULT_MAX_REPEATS, metadata=NOT_CONFIG)

    def config(self) -> dict[str, Any]:
        return fields_config(self, prompt="bundled prose, greedy")

    def planned_requests(self, max_model_len: int) -> int:
        return 1 + len(self.lengths) * most_repeats(self.repeat, self.precision, self.max_repeats)

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        prompt = PROSE_PROMPTS[0]
        prompt_tokens = await ctx.tokenizer.count(prompt, chat=True)
        cap = ctx.max_model_len - prompt_tokens - MARGIN_TOKENS
        notes, reached = [], []
        await ctx.generate(ctx.chat(prompt, 16), scenario=self.name, label="warmup")
        for want in self.lengths:
            n = min(want, cap)
            if n < want:
                notes.append(f"{want} output tokens capped to {n} by max_model_len {ctx.max_model_len}")

            async def one(i: int, n: int = n) -> float | None:
                rec = await ctx.generate(
                    ctx.chat(prompt, n, fixed=True), scenario=self.name, label=str(n), seq=i
                )
                return derive.decode_tok_s(rec)

            r = await repeat(
                one, self.repeat, self.precision, self.max_repeats, label=str(n), figure="decode tok/s"
            )
            if r is not None:
                reached.append(r)
        notes += [r.note() for r in reached]
        facts = {"precision": [asdict(r) for r in reached]} if reached else {}
        return ScenarioOutcome(notes=tuple(notes), facts=facts)

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        rows = []
        for label, reqs in data.by_level():
            rows += latency_rows(data.name, label, reqs)
        return ScenarioSummary(rows, fixed_length_notes(data.requests))


@dataclass(frozen=True)
class TTFT(FieldsConfig):
    """Time to first token for a short prompt and a long one (~4K, scaled to the context)."""

    name: ClassVar[str] = "ttft"
    kinds: tuple[str, ...] = ("short", "long")
    repeat: int = 5
    long_tokens: int = 4096
    precision: float | None = field(default=None, metadata=NOT_CONFIG)
    max_repeats: int = field(default=DEFAULT_MAX_REPEATS, metadata=NOT_CONFIG)

    def planned_requests(self, max_model_len: int) -> int:
        return 1 + len(self.kinds) * most_repeats(self.repeat, self.precision, self.max_repeats)

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        notes = []
        facts: dict[str, Any] = {}
        await ctx.generate(ctx.chat(SHORT_PROMPT, 4), scenario=self.name, label="warmup")
        long_target = min(self.long_tokens, ctx.max_model_len // 2)
        if "long" in self.kinds and long_target < self.long_tokens:
            notes.append(f"long prompt scaled to {long_target} tokens (max_model_len {ctx.max_model_len})")
        reached = []
        for kind in self.kinds:

            async def one(i: int, kind: str = kind) -> float | None:
                # A fresh salt every time: a prefix-cache hit is not a first token.
                if kind == "short":
                    text = f"[{ctx.salt()}] {SHORT_PROMPT}"
                else:
                    p = await exact_prompt(ctx.tokenizer, long_target, salt=ctx.salt())
                    text = p.text
                    facts["long_prompt_tokens_method"] = p.method
                rec = await ctx.generate(ctx.chat(text, 4), scenario=self.name, label=kind, seq=i)
                return derive.ttft_ms(rec)

            r = await repeat(one, self.repeat, self.precision, self.max_repeats, label=kind, figure="TTFT")
            if r is not None:
                reached.append(r)
        notes += [r.note() for r in reached]
        if reached:
            facts["precision"] = [asdict(r) for r in reached]
        return ScenarioOutcome(notes=tuple(notes), facts=facts)

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        rows = []
        for label, reqs in data.by_label().items():
            ttft = summarize(derive.ttft_ms(r) for r in reqs)
            rows += keep(ResultRow.of(data.name, label, "ttft_ms", ttft))
            if ttft is not None:  # the field quotes TTFT as percentiles
                rows += keep(
                    *(
                        ResultRow.scalar(data.name, label, f"ttft_{q}_ms", v, n=ttft.n)
                        for q, v in (("p50", ttft.median), ("p90", ttft.p90), ("p99", ttft.p99))
                    )
                )
            rows += keep(
                ResultRow.of(data.name, label, "prompt_tokens", summarize(r.prompt_tokens for r in reqs))
            )
        return ScenarioSummary(rows, [])


@dataclass(frozen=True)
class Prefill(FieldsConfig):
    """Time to first token against prompt length; prefill tok/s = prompt tokens / TTFT."""

    name: ClassVar[str] = "prefill"
    sizes: tuple[int, ...] = (2048, 8192, 32768, 102400)
    repeat: int = 2

    def fitting_sizes(self, max_model_len: int) -> tuple[list[int], bool]:
        fit = [s for s in self.sizes if s + MARGIN_TOKENS <= max_model_len]
        if fit:
            return fit, False
        # Nothing from the field's list fits (a small local model): scale instead
        # of skipping, and say so.
        return [max_model_len // 4, max_model_len // 2, max_model_len - 4 * MARGIN_TOKENS], True

    def planned_requests(self, max_model_len: int) -> int:
        return 1 + len(self.fitting_sizes(max_model_len)[0]) * self.repeat

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        sizes, scaled = self.fitting_sizes(ctx.max_model_len)
        notes = []
        if scaled:
            notes.append(
                f"none of {list(self.sizes)} fits max_model_len {ctx.max_model_len}; scaled to {sizes}"
            )
        else:
            skipped = [s for s in self.sizes if s not in sizes]
            if skipped:
                notes.append(f"{skipped} do not fit max_model_len {ctx.max_model_len}")
        await ctx.generate(ctx.chat(SHORT_PROMPT, 2), scenario=self.name, label="warmup")
        for size in sizes:
            for i in range(self.repeat):
                p = await exact_prompt(ctx.tokenizer, size, salt=ctx.salt())
                await ctx.generate(ctx.chat(p.text, 2), scenario=self.name, label=str(size), seq=i)
        return ScenarioOutcome(notes=tuple(notes))

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        rows = []
        for label, reqs in data.by_level():
            rate = [(r.prompt_tokens or 0) / (t / 1000) for r in reqs if (t := derive.ttft_ms(r))]
            rows += keep(
                ResultRow.of(data.name, label, "prompt_tokens", summarize(r.prompt_tokens for r in reqs)),
                ResultRow.of(data.name, label, "ttft_ms", summarize(derive.ttft_ms(r) for r in reqs)),
                ResultRow.of(data.name, label, "prefill_tok_s", summarize(rate)),
            )
        return ScenarioSummary(rows, [])
