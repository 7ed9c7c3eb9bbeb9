"""Feature scenarios: tool-calling overhead, and speculative-decoding acceptance by content type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from dyno.bench.scenario import BenchContext, ResultRow, ScenarioData, ScenarioOutcome, ScenarioSummary, keep
from dyno.bench.scenarios.config import fields_config
from dyno.bench.stats import summarize
from dyno.catalog.tools import suggest_tool_parser
from dyno.client import RequestRecord, derive, server_message
from dyno.client.toolcheck import judge_tool_call
from dyno.metrics.vllm import spec_decode_delta
from dyno.workloads.prompts import CONTENT_TYPES, TOOL_TASK, TOOLS, WEATHER_TOOL

TOOL_400_MARKERS = ("enable-auto-tool-choice", "tool-call-parser", "tool choice")


def tools_not_enabled(status: int | None, body: str | None) -> bool:
    return status == 400 and any(k in (body or "") for k in TOOL_400_MARKERS)


def tools_refused(ctx: BenchContext, r: RequestRecord) -> ScenarioOutcome:
    """A skipped scenario that says how to turn tool calling on: the server's 400 is the finding, so
    the request is forgiven (not a failure of the run)."""
    ctx.run.forgive(r)
    parser = suggest_tool_parser(ctx.model)
    msg = server_message(r.error_message, limit=1000)
    return ScenarioOutcome(
        status="skipped",
        notes=(
            f"tool calling not enabled: the server answered HTTP 400 ({msg}); "
            f"start it with --enable-auto-tool-choice --tool-call-parser {parser}",
        ),
        facts={
            "tool_calling": "not enabled",
            "server_message": msg,
            "flags_to_add": ["--enable-auto-tool-choice", "--tool-call-parser", parser],
        },
    )


@dataclass(frozen=True)
class ToolCall:
    """The same task with and without a tools array (`tool_choice: auto`)."""

    name: ClassVar[str] = "tool-call"
    repeat: int = 3
    max_tokens: int = 96

    def config(self) -> dict[str, Any]:
        return fields_config(self, tools=[t["function"]["name"] for t in TOOLS])

    def planned_requests(self, max_model_len: int) -> int:
        return 2 * self.repeat

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        for i in range(self.repeat):
            await ctx.generate(ctx.chat(TOOL_TASK, self.max_tokens), scenario=self.name, label="plain", seq=i)
            r = await ctx.generate(
                ctx.chat(TOOL_TASK, self.max_tokens, tools=TOOLS, tool_choice="auto"),
                scenario=self.name,
                label="tools",
                seq=i,
            )
            if tools_not_enabled(r.http_status, r.error_message):
                return tools_refused(ctx, r)
        return ScenarioOutcome(facts={"tool_calling": "enabled"})

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        groups = data.by_label()
        rows = []
        for label in ("plain", "tools"):
            reqs = groups.get(label, [])
            rows += keep(
                ResultRow.of(data.name, label, "ttft_ms", summarize(derive.ttft_ms(r) for r in reqs)),
                ResultRow.of(data.name, label, "e2e_s", summarize(derive.e2e_s(r) for r in reqs)),
                ResultRow.of(data.name, label, "prompt_tokens", summarize(r.prompt_tokens for r in reqs)),
                ResultRow.of(data.name, label, "output_tokens", summarize(r.output_tokens for r in reqs)),
            )
        plain, tools = groups.get("plain", []), groups.get("tools", [])
        notes = list(data.notes)
        if plain and tools:
            p = summarize(r.prompt_tokens for r in plain)
            t = summarize(r.prompt_tokens for r in tools)
            if p and t:
                rows += keep(
                    ResultRow.scalar(
                        data.name, "tools - plain", "prompt_overhead_tok", t.mean - p.mean, n=min(p.n, t.n)
                    )
                )
            valid = sum(1 for r in tools if judge_tool_call(r.tool_calls, WEATHER_TOOL).valid)
            rows += keep(
                ResultRow.scalar(data.name, "tools", "valid_tool_calls", valid / len(tools), n=len(tools))
            )
        return ScenarioSummary(rows, notes)


@dataclass(frozen=True)
class SpecDecode:
    """Acceptance from /metrics deltas, per bundled content type (code, prose, JSON)."""

    name: ClassVar[str] = "spec-decode"
    requests_per_type: int = 3
    max_tokens: int = 128

    def config(self) -> dict[str, Any]:
        return fields_config(self, content_types=list(CONTENT_TYPES))

    def planned_requests(self, max_model_len: int) -> int:
        return len(CONTENT_TYPES) * self.requests_per_type

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        for kind, prompts in CONTENT_TYPES.items():
            await ctx.scrape(self.name, f"before:{kind}")
            for i in range(self.requests_per_type):
                # Natural length (no ignore_eos): acceptance on text generated past
                # the end of an answer says nothing about real traffic.
                req = ctx.chat(prompts[i % len(prompts)], self.max_tokens)
                await ctx.generate(req, scenario=self.name, label=kind, seq=i)
            await ctx.scrape(self.name, f"after:{kind}")
        return ScenarioOutcome()

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        rows: list[ResultRow] = []
        notes: list[str] = []
        groups = data.by_label()
        seen_counters = False
        moved = False
        for kind in CONTENT_TYPES:
            b, a = data.scrapes.get(f"before:{kind}"), data.scrapes.get(f"after:{kind}")
            d = spec_decode_delta(b, a) if b and a else None
            reqs = groups.get(kind, [])
            rows += keep(
                ResultRow.of(data.name, kind, "decode_tok_s", summarize(derive.decode_tok_s(r) for r in reqs))
            )
            if d is None:
                continue
            seen_counters = True
            if not d.active:
                continue
            moved = True
            rows += keep(
                ResultRow.scalar(data.name, kind, "acceptance_rate", d.acceptance_rate, n=int(d.drafts)),
                ResultRow.scalar(
                    data.name,
                    kind,
                    "mean_acceptance_length",
                    d.mean_acceptance_length,
                    n=int(d.drafts),
                ),
                ResultRow.scalar(data.name, kind, "drafts", d.drafts),
                ResultRow.scalar(data.name, kind, "accepted_tokens", d.accepted_tokens),
            )
            for pos, rate in enumerate(d.per_position_rate):
                rows += keep(ResultRow.scalar(data.name, kind, f"accept_at_{pos + 1}", rate, n=int(d.drafts)))
            per_pos_total = sum(d.accepted_per_position)
            if d.accepted_per_position and abs(per_pos_total - d.accepted_tokens) > 0.5:
                notes.append(
                    f"{kind}: per-position accepted tokens sum to {per_pos_total:.0f}, "
                    f"total says {d.accepted_tokens:.0f}"
                )
        if not seen_counters:
            notes.append("speculation off: the server exports no vllm:spec_decode_* counters")
        elif not moved:
            notes.append("speculation off: the spec-decode counters did not move")
        return ScenarioSummary(rows, notes)
