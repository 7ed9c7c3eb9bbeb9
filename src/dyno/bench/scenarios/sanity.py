"""Sanity: one greedy chat completion that must come back with content, before anything is timed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from dyno.bench.scenario import BenchContext, ResultRow, ScenarioData, ScenarioOutcome, ScenarioSummary, keep
from dyno.client import derive

SANITY_PROMPT = "In one sentence, what does a dynamometer measure?"
SHOWN_CHARS = 200


@dataclass(frozen=True)
class Sanity:
    """A server that answers with nothing (or garbage) makes every later figure meaningless;
    the answer is stored and shown so a reader can judge it."""

    name: ClassVar[str] = "sanity"
    max_tokens: int = 64

    def config(self) -> dict[str, Any]:
        return {"prompt": SANITY_PROMPT, "max_tokens": self.max_tokens}

    def planned_requests(self, max_model_len: int) -> int:
        return 1

    async def run(self, ctx: BenchContext) -> ScenarioOutcome:
        r = await ctx.generate(ctx.chat(SANITY_PROMPT, self.max_tokens), scenario=self.name, label="chat")
        if not r.ok or not r.output_text.strip():
            why = f"{r.error_kind}: {r.error_message}" if not r.ok else "an empty answer"
            return ScenarioOutcome(
                status="failed", notes=(f"the chat completion returned no content ({why})",)
            )
        return ScenarioOutcome()

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary:
        reqs = data.by_label().get("chat", [])
        rows = keep(
            *(ResultRow.scalar(data.name, "chat", "ttft_ms", derive.ttft_ms(r)) for r in reqs[:1]),
            *(ResultRow.scalar(data.name, "chat", "output_tokens", r.output_tokens) for r in reqs[:1]),
        )
        notes = [f"the model said: {reqs[0].output_text.strip()[:SHOWN_CHARS]!r}"] if reqs else []
        return ScenarioSummary(rows, notes)
