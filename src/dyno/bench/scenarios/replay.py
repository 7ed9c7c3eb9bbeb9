"""Replay: a public trace's requests, each sent at its timestamp (x --time-scale), with its lengths
and its prefix sharing (equal hash ids, equal token blocks: workloads/traces.py).

Figures: the load's (bench/scenarios/workload.load_rows) for the one level `replay`, where the
dispatch delay is the replay's send-time error against the trace; the prefix-cache hit rate the
counters measured beside what an unlimited cache of the server's block size could serve of the
prompts sent, in their order, and the trace's own figure at its 512-token blocks. A replay the
server cannot keep up with is said to be so, with the --time-scale that would fit.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from dyno.bench.execute import Job
from dyno.bench.scenario import BenchContext, ResultRow, ScenarioData, ScenarioOutcome, ScenarioSummary, keep
from dyno.bench.scenarios.latency import fixed_length_notes
from dyno.bench.scenarios.workload import DEFAULT_MAX_CONCURRENCY, block_tokens, load_rows
from dyno.client import GenRequest, derive
from dyno.metrics.vllm import prefix_cache_delta
from dyno.workloads.prefixes import DEFAULT_BLOCK_TOKENS
from dyno.workloads.shapes import Lengths
from dyno.workloads.synthetic import PromptTokenizer
from dyno.workloads.traces import (
    CANDIDATE_WORDS,
    Blocks,
    Trace,
    ids_hit_bound,
    scaled,
    suggest_length_scale,
    trace_hit_bound,
)

LABEL = "replay"
FALLING_BEHIND = 1.25  # offered / served requests per second past which the replay is said to lag


@dataclass(frozen=True)
class Vocabulary:
    words: tuple[str, ...]
    ids: dict[str, int]  # each word's one token id (with its leading space); empty when not known
    head: tuple[int, ...]  # what the tokenizer puts before any text (a BOS token, or nothing)


async def one_token_words(tok: PromptTokenizer) -> Vocabulary:
    """The candidate words the server's tokenizer makes one token each, with their ids."""
    head = await tok.ids("", chat=False)
    if head is None:
        return Vocabulary(tuple(CANDIDATE_WORDS), {}, ())
    ids: dict[str, int] = {}
    for w in CANDIDATE_WORDS:
        got = await tok.ids(f" {w}", chat=False)
        if got is not None and len(got) == len(head) + 1 and got[: len(head)] == head:
            ids[w] = got[-1]
    return Vocabulary(tuple(ids), ids, tuple(head))


def trace_digest(trace: Trace) -> str:
    """A short digest of the requests replayed, so two runs of one trace slice compare as one workload."""
    rows = [[r.timestamp_ms, r.input_tokens, r.output_tokens, list(r.hash_ids)] for r in trace.requests]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Replay:
    name: ClassVar[str] = "replay"
    trace: Trace = field(compare=False)
    time_scale: float = 1.0
    length_scale: float = 1.0
    block_tokens: int | None = None  # tokens per hash id in the prompts built; None: 512 x length_scale
    output_tokens: Lengths | None = None  # None: each trace request's own output length
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    warmup: int = 1

    def config(self) -> dict[str, Any]:
        return {
            "mode": "replay",
            "trace": {
                "path": self.trace.path,
                "format": self.trace.format,
                "requests": len(self.trace.requests),
                "digest": trace_digest(self.trace),
            },
            "time_scale": self.time_scale,
            "length_scale": self.length_scale,
            "block_tokens": self.block_tokens,
            "output_tokens": self.output_tokens.spec() if self.output_tokens else None,
            "max_concurrency": self.max_concurrency,
        }

    def planned_requests(self, max_model_len: int) -> int:
        return self.warmup + len(self.trace.requests)

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        vocab = await one_token_words(ctx.tokenizer)
        notes: list[str] = []
        if len(vocab.words) < 8:
            return ScenarioOutcome(
                "failed", (f"the server's tokenizer made only {len(vocab.words)} one-token words",), {}
            )
        per_block = self.block_tokens or scaled(self.trace.block_tokens, self.length_scale)
        blocks = Blocks(vocab.words, per_block, ctx.salt())
        rng = random.Random(0)
        budgets = [
            self.output_tokens.draw(rng) if self.output_tokens else r.output_tokens
            for r in self.trace.requests
        ]
        kept: list[tuple[int, list[str], int]] = []  # (trace index, words, output budget)
        for i, (r, n_out) in enumerate(zip(self.trace.requests, budgets, strict=True)):
            n_in = scaled(r.input_tokens, self.length_scale)
            if len(vocab.head) + n_in + n_out <= ctx.max_model_len:
                kept.append((i, blocks.words(r, n_in, i), n_out))
        dropped = len(self.trace.requests) - len(kept)
        if dropped:
            fit = suggest_length_scale(self.trace, max(1, ctx.max_model_len - max(budgets) - len(vocab.head)))
            notes.append(
                f"{dropped} of {len(self.trace.requests)} trace requests do not fit the "
                f"{ctx.max_model_len}-token context at --length-scale {self.length_scale:g} and were left "
                f"out; --length-scale {fit:g} fits them all"
            )
        if not kept:
            return ScenarioOutcome("skipped", tuple(notes), {})
        if self.length_scale != 1:
            notes.append(
                f"prompts scaled by {self.length_scale:g} (blocks of {blocks.block_tokens} tokens for the "
                f"trace's {self.trace.block_tokens}); output lengths as "
                + ("--output-tokens says" if self.output_tokens else "the trace says")
            )
        t0 = self.trace.requests[kept[0][0]].timestamp_ms
        jobs = [
            Job(
                GenRequest(
                    ctx.model,
                    prompt=Blocks.text(words),
                    endpoint="completions",
                    max_tokens=n_out,
                    temperature=0.0,
                    ignore_eos=True,
                ),
                self.name,
                LABEL,
                seq,
                int((self.trace.requests[i].timestamp_ms - t0) * self.time_scale * 1e6),
            )
            for seq, (i, words, n_out) in enumerate(kept)
        ]
        for w in range(self.warmup):
            await ctx.generate(
                GenRequest(ctx.model, prompt=" warm up", endpoint="completions", max_tokens=4),
                scenario=self.name,
                label="warmup",
                seq=w,
            )
        before = await ctx.scrape(self.name, f"before:{LABEL}")
        block = block_tokens({"before": before}) if before else None
        if block is not None and blocks.block_tokens < block and any(r.hash_ids for r in self.trace.requests):
            notes.append(
                f"a trace block is {blocks.block_tokens} tokens here, under the server's {block}-token cache "
                "block: prefixes shared for fewer than one server block cannot be served; "
                f"--trace-block-tokens {block} keeps the trace's sharing at the server's granularity"
            )
        if ctx.workers <= 1:
            await ctx.client.warm(min(self.max_concurrency, 64))
        await ctx.run_jobs(jobs, mode="rate", slots=self.max_concurrency)
        await ctx.scrape(self.name, f"after:{LABEL}")
        facts: dict[str, Any] = {
            "offered_s": (jobs[-1].due_ns or 0) / 1e9,
            "dropped": dropped,
            "lines": [self.trace.requests[i].line for i, _, _ in kept],  # seq -> the trace file's line
            "block_tokens": blocks.block_tokens,
            "vocabulary": len(vocab.words),
        }
        kept_trace = replace(self.trace, requests=tuple(self.trace.requests[i] for i, _, _ in kept))
        facts["trace_bound"] = list(trace_hit_bound(kept_trace))
        if vocab.ids:
            prompts = [[*vocab.head, *(vocab.ids[w] for w in words)] for _, words, _ in kept]
            facts["bound"] = {
                "block_tokens": block or DEFAULT_BLOCK_TOKENS,
                "assumed": block is None,
                "tokens": ids_hit_bound(prompts, block or DEFAULT_BLOCK_TOKENS),
                "prompt_tokens": [len(p) for p in prompts],
            }
        else:
            notes.append("no cache bound: the server's tokenizer gave no token ids")
        return ScenarioOutcome(notes=tuple(notes), facts=facts)

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        every = [r for r in data.requests if r.label == LABEL]
        ok = [r for r in every if r.ok]
        rows = load_rows(data.name, LABEL, ok, every)
        notes = fixed_length_notes(data.requests)
        facts = data.facts
        bound = facts.get("bound")
        if bound:
            built = range(len(bound["tokens"]))
            hits = sum(bound["tokens"][r.seq] for r in every if r.seq in built)
            total = sum(bound["prompt_tokens"][r.seq] for r in every if r.seq in built)
            rows += keep(
                ResultRow.scalar(data.name, LABEL, "cache_hit_rate_bound", hits / total if total else None)
            )
            served = [r for r in ok if r.prompt_tokens is not None and r.seq in built]
            off = [r for r in served if r.prompt_tokens != bound["prompt_tokens"][r.seq]]
            if off:
                notes.append(
                    f"{len(off)} prompts came back with a token count other than the one built: the "
                    "cache bound is approximate"
                )
            notes.append(
                f"cache bound: an unlimited cache of {bound['block_tokens']}-token blocks"
                + (" (assumed: the server does not say its block size)" if bound["assumed"] else "")
                + " serving the prompts sent, in trace order"
            )
        tb = facts.get("trace_bound")
        if tb and tb[1]:
            rows += keep(ResultRow.scalar(data.name, LABEL, "cache_hit_rate_trace", tb[0] / tb[1]))
        before, after = data.scrapes.get(f"before:{LABEL}"), data.scrapes.get(f"after:{LABEL}")
        d = prefix_cache_delta(before, after) if before and after else None
        if d is not None and d.hit_rate is not None:
            rows += keep(ResultRow.scalar(data.name, LABEL, "cache_hit_rate", d.hit_rate, n=int(d.queries)))
        notes += _pace_notes(data, every, ok)
        return ScenarioSummary(rows, notes)


def _pace_notes(data: ScenarioData, every: list[Any], ok: list[Any]) -> list[str]:
    """Whether the server kept up with the trace's arrivals, and the --time-scale that would."""
    offered_s = float(data.facts.get("offered_s") or 0)
    span = derive.span_s(every)
    if not ok or not span or offered_s <= 0 or len(every) < 2:
        return []
    offered, served = len(every) / offered_s, len(ok) / span
    scale = float(data.config.get("time_scale") or 1)
    if offered / served <= FALLING_BEHIND:
        return []
    return [
        f"the server fell behind the trace: it finished {served:.2f} requests/s of the {offered:.2f} the "
        f"replay offered at --time-scale {scale:g}; --time-scale {scale * offered / served:.2g} would "
        "about match what it served"
    ]
