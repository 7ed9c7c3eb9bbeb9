"""Sessions: concurrent users in conversations that grow with the server's real replies.

Each user's turns go out one after another (a turn needs the reply before it); the users run at
once. Every turn is stored as a request labelled by its turn (`t1`, `t2`, ...) with its session
as `seq`, so per-turn figures are read straight from the stored rows: TTFT, prompt tokens and
the prompt tokens the server's cache served (`usage.prompt_tokens_details.cached_tokens`),
beside what an unlimited prefix cache could have served (workloads/sessions.py). The whole
load is also summarised as one level (`all`), with session durations and the prefix-cache
counters' deltas.

Prompts and budgets are drawn before anything is sent, from the seed, so two runs of one
seed send the same user turns (the replies are the server's, so the histories are only as
equal as its outputs).

With `tool_result_tokens` the sessions are agent loops (bench/scenarios/agent.py): every turn
offers tools, a tool call is answered with a synthetic result and sent back as the next turn.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dyno.bench.execute import sleep_until_ns, task_group
from dyno.bench.scenario import (
    START_MARGIN_NS,
    BenchContext,
    ResultRow,
    ScenarioData,
    ScenarioOutcome,
    ScenarioSummary,
    keep,
)
from dyno.bench.scenarios.agent import agent_rows, agent_task, answer_calls
from dyno.bench.scenarios.features import tools_not_enabled, tools_refused
from dyno.bench.scenarios.latency import fixed_length_notes
from dyno.bench.scenarios.workload import block_tokens, cache_gap_note, load_rows
from dyno.bench.stats import summarize
from dyno.client import GenRequest, RequestRecord, derive
from dyno.metrics.vllm import prefix_cache_delta
from dyno.workloads.dataset import Dataset, DatasetItem
from dyno.workloads.prefixes import (
    DEFAULT_BLOCK_TOKENS,
    PrefixPlan,
    SharedPrefixes,
    cacheable_tokens,
    plan_prefixes,
)
from dyno.workloads.prompts import TOOLS
from dyno.workloads.sessions import Sent, SessionSpec, fits, shared_tokens
from dyno.workloads.shapes import Lengths
from dyno.workloads.synthetic import calibrated_prompt

DEFAULT_TURNS = Lengths("fixed", 4)
DEFAULT_TURN_TOKENS = Lengths("fixed", 64)
DEFAULT_REPLY_TOKENS = Lengths("fixed", 32)
AGENT_REPLY_TOKENS = Lengths("fixed", 128)  # a budget, not a length: a tool call and its end of turn fit
DEFAULT_TOOL_RESULT_TOKENS = Lengths("fixed", 128)


@dataclass(frozen=True)
class _Turn:
    text: str
    max_tokens: int
    want_tokens: int  # the user turn's own length, for deciding whether it still fits


@dataclass(frozen=True)
class SessionPlan:
    system: str | None
    turns: tuple[_Turn, ...]
    results: tuple[str, ...] = ()  # an agent session's tool result for each turn's calls


@dataclass(frozen=True)
class _SentTurn:
    history: list[dict[str, Any]]  # the session's whole history (shared by its turns, grows after)
    n_messages: int  # how much of it this turn sent
    rec: RequestRecord


@dataclass(frozen=True)
class SessionDraw:
    """Drawing sessions one at a time: the seed's generator, reply budgets, prefixes, conversations."""

    rng: random.Random
    out_len: Lengths | None
    prefixes: PrefixPlan | None
    items: list[DatasetItem]


# Sends one turn (request, session, turn index, when it was meant to leave) and returns it stored.
TurnSend = Callable[[GenRequest, int, int, int], Awaitable[RequestRecord]]


@dataclass
class SessionTally:
    ended_at_context: list[int] = field(default_factory=list)  # sessions cut short: the history filled it
    failed: list[int] = field(default_factory=list)  # sessions ended by a failed turn
    refused: list[RequestRecord] = field(default_factory=list)  # the server's 400: tool calling is off


def turn_label(k: int) -> str:
    return f"t{k + 1}"


@dataclass(frozen=True)
class Sessions:
    name: ClassVar[str] = "sessions"
    spec: SessionSpec = field(default_factory=lambda: SessionSpec(4))
    input_tokens: Lengths | None = None  # each synthetic user turn's own text
    output_tokens: Lengths | None = None  # None: a dataset turn's own budget, else DEFAULT_REPLY_TOKENS
    dataset: Dataset | None = field(default=None, compare=False)
    prefixes: SharedPrefixes | None = None  # the system prompt: one of G shared ones
    seed: int = 0
    warmup: int = 1
    tool_result_tokens: Lengths | None = None  # set: agent loops, each tool call answered with this much
    tool_choice: str = "auto"  # on a task turn; after a tool result always "auto", so the model can answer

    @property
    def agent(self) -> bool:
        return self.tool_result_tokens is not None

    def config(self) -> dict[str, Any]:
        return {
            "mode": "sessions",
            **self.spec.spec(),
            "input_tokens": self.input_tokens.spec() if self.input_tokens else None,
            "output_tokens": self.output_tokens.spec() if self.output_tokens else None,
            "dataset": self.dataset.spec() if self.dataset else None,
            "seed": self.seed,
            **({"prefixes": self.prefixes.spec()} if self.prefixes else {}),
            **(
                {
                    "tool_result_tokens": self.tool_result_tokens.spec(),
                    "tools": [t["function"]["name"] for t in TOOLS],
                    "tool_choice": self.tool_choice,
                }
                if self.tool_result_tokens
                else {}
            ),
        }

    def planned_requests(self, max_model_len: int) -> int:
        turns = self.spec.turns or DEFAULT_TURNS
        return self.warmup + self.spec.sessions * turns.upper

    async def drawer(self, ctx: BenchContext, prefixes: PrefixPlan | None = None) -> SessionDraw:
        """What drawing sessions needs, prepared once from the seed (`prefixes`: a plan already
        made, as a capacity search shares one across its probes)."""
        rng = random.Random(self.seed)
        default = AGENT_REPLY_TOKENS if self.agent else DEFAULT_REPLY_TOKENS
        if prefixes is None and self.prefixes:
            prefixes = await plan_prefixes(ctx.tokenizer, self.prefixes, ctx.salt())
        items = list(self.dataset.items) if self.dataset else []
        rng.shuffle(items)
        return SessionDraw(rng, self.output_tokens or (None if self.dataset else default), prefixes, items)

    async def _plans(self, ctx: BenchContext) -> list[SessionPlan]:
        """Every session's system prompt and user turns, drawn from the seed before the load."""
        d = await self.drawer(ctx)
        return [await self.draw(ctx, d, s) for s in range(self.spec.sessions)]

    async def draw(self, ctx: BenchContext, d: SessionDraw, s: int) -> SessionPlan:
        """Session `s`: its system prompt and user turns (and an agent's tool results)."""
        rng, out_len, prefixes, items = d.rng, d.out_len, d.prefixes, d.items
        system = prefixes.texts[self.prefixes.draw(rng)] if prefixes and self.prefixes else None
        if items:
            item = items[s % len(items)]
            # A completions item (`prompt`) is a conversation of one user turn.
            given = item.turns or ((item.prompt or "", item.max_tokens),)
            n = min(len(given), self.spec.turns.draw(rng)) if self.spec.turns else len(given)
            turns = tuple(
                _Turn(
                    text,
                    out_len.draw(rng) if out_len else (budget or DEFAULT_REPLY_TOKENS.upper),
                    len(text) // 4,
                )
                for text, budget in given[:n]
            )
            return SessionPlan(item.system or system, turns)
        n = (self.spec.turns or DEFAULT_TURNS).draw(rng)
        synthetic = []
        results = []
        for _ in range(n):
            budget = (out_len or DEFAULT_REPLY_TOKENS).draw(rng)
            if self.tool_result_tokens is not None:
                # A task the tools answer, after --input-tokens of context when asked for.
                want = self.input_tokens.draw(rng) if self.input_tokens else 0
                context = await calibrated_prompt(ctx.tokenizer, want, salt=ctx.salt(), chat=False)
                task = agent_task(rng)
                synthetic.append(_Turn(f"{context}\n\n{task}" if want else task, budget, want + 16))
                size = self.tool_result_tokens.draw(rng)
                results.append(await calibrated_prompt(ctx.tokenizer, size, salt=ctx.salt(), chat=False))
                continue
            want = (self.input_tokens or DEFAULT_TURN_TOKENS).draw(rng)
            text = await calibrated_prompt(ctx.tokenizer, want, salt=ctx.salt(), chat=False)
            synthetic.append(_Turn(text, budget, want))
        return SessionPlan(system, tuple(synthetic), tuple(results))

    async def session(
        self,
        ctx: BenchContext,
        s: int,
        plan: SessionPlan,
        t0_ns: int,
        tally: SessionTally,
        *,
        send: TurnSend | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> list[_SentTurn]:
        """One user's turns, each with the conversation it sent (the stored record keeps no prompt).

        Every turn's conversation is a prefix of the session's one history, so a turn keeps only
        the history and its length: copies would hold T^2/2 messages for a session of T turns.
        `send` sends and stores a turn instead of this scenario (a capacity probe judges it too);
        `stop()` ends the session before its next turn."""
        history: list[dict[str, Any]] = [{"role": "system", "content": plan.system}] if plan.system else []
        # An agent's reply ends where the model stops: a tool call is followed by its end of turn.
        fixed = not self.agent and (self.output_tokens is not None or self.dataset is None)
        tools = TOOLS if self.agent else ()
        done: list[RequestRecord] = []
        sent: list[_SentTurn] = []
        answers: list[dict[str, Any]] = []  # the last reply's tool calls and their results
        intended: int | None = None
        for k, turn in enumerate(plan.turns):
            if tally.refused or stop():
                break
            # The next turn: the last reply's calls and their results, or the user's own turn.
            new = answers or [{"role": "user", "content": turn.text}]
            results_tokens = sum(len(str(m["content"])) // 4 for m in answers[1:])
            if done and not fits(
                done[-1].prompt_tokens or 0,
                done[-1].output_tokens or 0,
                results_tokens if answers else turn.want_tokens,
                turn.max_tokens,
                ctx.max_model_len,
            ):
                tally.ended_at_context.append(s)
                break
            slot = self.spec.slot_s(s, k)
            if slot is not None:
                intended = t0_ns + int(slot * 1e9)
            elif k == 0:
                intended = t0_ns
            else:
                think = 0.0 if answers else self.spec.think_time_s  # a tool runs at once
                intended = (done[-1].t_end_ns or time.perf_counter_ns()) + int(think * 1e9)
            await sleep_until_ns(intended)
            history += new
            req = GenRequest(
                ctx.model,
                tuple(history),
                max_tokens=turn.max_tokens,
                temperature=0.0,
                ignore_eos=fixed,
                tools=tools,
                tool_choice=("auto" if answers else self.tool_choice) if tools else None,
            )
            if send is not None:
                rec = await send(req, s, k, intended)
            else:
                rec = await ctx.generate(
                    req, scenario=self.name, label=turn_label(k), seq=s, intended_ns=intended
                )
            if tools and tools_not_enabled(rec.http_status, rec.error_message):
                tally.refused.append(rec)
                break
            done.append(rec)
            sent.append(_SentTurn(history, len(history), rec))
            if not rec.ok:
                tally.failed.append(s)
                break
            answers = []
            if self.agent and rec.tool_calls:
                answers = answer_calls(rec, plan.results[k], f"call-{s}-{k}")
            else:
                history.append({"role": "assistant", "content": rec.output_text})
        return sent

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        plans = await self._plans(ctx)
        for i in range(self.warmup):
            text = await calibrated_prompt(ctx.tokenizer, 32, salt=ctx.salt())
            await ctx.generate(ctx.chat(text, 8, fixed=True), scenario=self.name, label="warmup", seq=i)
        await ctx.client.warm(min(self.spec.sessions, 64))
        await ctx.scrape(self.name, "before:all")
        tally = SessionTally()
        t0 = time.perf_counter_ns() + START_MARGIN_NS
        async with task_group() as tg:
            tasks = [tg.create_task(self.session(ctx, s, p, t0, tally)) for s, p in enumerate(plans)]
        await ctx.scrape(self.name, "after:all")
        if tally.refused:
            for rec in tally.refused[1:]:
                ctx.run.forgive(rec)
            return tools_refused(ctx, tally.refused[0])
        turns = [x for t in tasks for x in t.result()]
        notes: list[str] = []
        if ctx.workers > 1:
            notes.append("sessions ran in one process: --workers spreads rate and concurrency loads only")
        if tally.ended_at_context:
            notes.append(
                f"{len(tally.ended_at_context)} of {len(plans)} sessions ended early: their next turn and "
                f"its reply would not fit the {ctx.max_model_len}-token context"
            )
        if tally.failed:
            notes.append(f"{len(tally.failed)} sessions ended at a failed turn (its error is stored)")
        facts: dict[str, Any] = {"sessions": len(plans), "turns_planned": [len(p.turns) for p in plans]}
        shared = await _shared(ctx, turns, TOOLS if self.agent else ())
        if shared is None:
            notes.append(
                f"no cache bound: token ids are not known ({ctx.tokenizer.method}); "
                "the server's counts are stored"
            )
        else:
            facts["shared_tokens"] = shared
        return ScenarioOutcome(notes=tuple(notes), facts=facts)

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        return ScenarioSummary(*session_rows(data))


@dataclass(frozen=True)
class AgentSessions(Sessions):
    """Sessions as agent loops (bench/scenarios/agent.py), under a name of their own: a suite can
    hold both, and a comparison does not set an agent run against a chat one."""

    name: ClassVar[str] = "agent"
    spec: SessionSpec = field(default_factory=lambda: SessionSpec(2, Lengths("fixed", 4)))
    tool_result_tokens: Lengths | None = field(default_factory=lambda: DEFAULT_TOOL_RESULT_TOKENS)


async def _shared(
    ctx: BenchContext, turns: list[_SentTurn], tools: tuple[dict[str, Any], ...]
) -> list[list[Any]] | None:
    """[label, session, shared tokens] per answered turn, from its whole conversation's token ids."""
    answered = [t for t in turns if t.rec.ok]
    sent = []
    for t in answered:
        ids = await ctx.tokenizer.chat_ids(t.history[: t.n_messages], tools)
        if ids is None:
            return None
        sent.append(Sent(ids, t.rec.output_tokens or 0, t.rec.t_first_content_ns, t.rec.t_end_ns))
    shared = await asyncio.to_thread(shared_tokens, sent)
    return [[t.rec.label, t.rec.seq, n] for t, n in zip(answered, shared, strict=True)]


def _turn_order(labels: list[str]) -> list[str]:
    return sorted({x for x in labels if x.startswith("t") and x[1:].isdigit()}, key=lambda x: int(x[1:]))


def session_rows(data: ScenarioData) -> tuple[list[ResultRow], list[str]]:
    """Per turn: TTFT, prompt and cached tokens beside the bound; over the whole load: `all`."""
    name = data.name
    block = block_tokens(data.scrapes)
    shared = {(str(lb), int(s)): int(n) for lb, s, n in data.facts.get("shared_tokens") or []}
    answered = [r for r in data.requests if r.label != "warmup" and r.ok]
    every = [r for r in data.requests if r.label != "warmup"]

    def bound(r: RequestRecord) -> int | None:
        n = shared.get((r.label, r.seq))
        if n is None or not r.prompt_tokens:
            return None
        return cacheable_tokens(r.prompt_tokens, n, block or DEFAULT_BLOCK_TOKENS)

    rows: list[ResultRow] = []
    for label in _turn_order([r.label for r in answered]):
        turn = [r for r in answered if r.label == label]
        rows += keep(
            ResultRow.of(name, label, "ttft_ms", summarize(derive.ttft_ms(r) for r in turn)),
            ResultRow.of(name, label, "prompt_tokens", summarize(r.prompt_tokens for r in turn)),
            ResultRow.of(name, label, "cached_tokens", summarize(r.cached_tokens for r in turn)),
            ResultRow.of(name, label, "cached_tokens_bound", summarize(bound(r) for r in turn)),
            ResultRow.of(name, label, "output_tokens", summarize(r.output_tokens for r in turn)),
        )
    rows += load_rows(name, "all", answered, every)
    agent = (
        agent_rows(data, answered, _turn_order([r.label for r in answered]))
        if data.config.get("tool_result_tokens") is not None
        else None
    )
    if agent:
        rows += agent[0]
    rows += keep(ResultRow.of(name, "all", "session_s", summarize(_durations(answered))))
    notes = fixed_length_notes(data.requests)
    if agent:
        notes += agent[1]
    before, after = data.scrapes.get("before:all"), data.scrapes.get("after:all")
    d = prefix_cache_delta(before, after) if before and after else None
    prompts = sum(r.prompt_tokens or 0 for r in answered)
    bounds = [bound(r) for r in answered]
    if shared and prompts and None not in bounds:
        rows += keep(
            ResultRow.scalar(
                name, "all", "cache_hit_rate_bound", sum(b or 0 for b in bounds) / prompts, n=prompts
            )
        )
        notes.append(
            f"cache bound: what an unlimited cache of {block or DEFAULT_BLOCK_TOKENS}-token blocks"
            + ("" if block else " (assumed: the server does not say its block size)")
            + " could serve of each turn: the history it shares with requests whose first token came "
            "before its own, and up to their replies"
        )
    if d is not None and d.hit_rate is not None:
        rows += keep(ResultRow.scalar(name, "all", "cache_hit_rate", d.hit_rate, n=int(d.queries)))
    notes += _gap_notes(answered, bounds, prompts, d.hit_rate if d else None)
    if answered and all(r.cached_tokens is None for r in answered):
        notes.append(
            "cached tokens per turn: the server did not report them (vLLM: start it with "
            "--enable-prompt-tokens-details)"
        )
    over = [r for r, b in zip(answered, bounds, strict=True) if b is not None and (r.cached_tokens or 0) > b]
    if over:
        notes.append(
            f"{len(over)} turns were served more from the cache than this run could have put there: the "
            "server's cache held these prefixes from before the run (an earlier run); the bound counts "
            "this run's requests only"
        )
    zero = [r for r in answered if r.prompt_tokens == 0]
    if zero:
        notes.append(
            f"{len(zero)} turns came back with 0 prompt tokens in their usage: the server's count is wrong"
        )
    return rows, notes


def _gap_notes(
    answered: list[RequestRecord], bounds: list[int | None], prompts: int, counted: float | None
) -> list[str]:
    """Name a cache that served far less than it could: off, too small, or raced."""
    if not prompts or None in bounds:
        return []
    could = sum(b or 0 for b in bounds) / prompts
    reported = [r.cached_tokens for r in answered]
    served = counted
    if served is None and None not in reported:
        served = sum(c or 0 for c in reported) / prompts
    if not could:
        return []
    if served is None:
        return [f"an unlimited cache could serve {could:.0%} of prompt tokens; the server reports no hits"]
    gap = cache_gap_note(
        served,
        could,
        "prefix caching off (vLLM --no-enable-prefix-caching), the KV cache too small to hold every "
        "history (evicting), or turns of users prefilling at once",
    )
    return [gap] if gap else []


def _durations(reqs: list[RequestRecord]) -> list[float]:
    """Each session's first turn sent -> last reply ended, in seconds."""
    spans: dict[int, list[int]] = {}
    for r in reqs:
        if r.t_end_ns is None:
            continue
        lo, hi = spans.setdefault(r.seq, [r.t_sent_ns, r.t_end_ns])
        spans[r.seq] = [min(lo, r.t_sent_ns), max(hi, r.t_end_ns)]
    return [(hi - lo) / 1e9 for lo, hi in spans.values()]
