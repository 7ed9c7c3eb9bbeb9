"""Agent loops: a sessions mode whose turns offer tools, the way a coding or ops agent talks to a server.

Every turn offers TOOLS (`tool_choice: auto`). A reply that calls a tool is answered with a
synthetic result of `--tool-result-tokens` tokens, and the next turn sends it back (the assistant
message with its `tool_calls`, then one `tool` message per call), with no think time: the tool ran
at once. A call the judge finds invalid (an unknown function, arguments that do not parse or break
the schema) is answered with the error, as an agent framework would. A reply in words ends the
task; the user's next turn is a new task. `tool_choice: required` on a task turn makes the server
call a tool (vLLM constrains the reply to a call of an offered tool), as agent frameworks do for a
step that must act; a tool-result turn is always `auto`, so the model can answer. So a session
of T turns is T requests, each either a user turn or a tool-result turn, and each reply is judged
by `judge_offered_call`, the checks `dyno verify` makes of a tool call.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

from dyno.bench.scenario import ResultRow, ScenarioData, keep
from dyno.bench.stats import summarize
from dyno.client import RequestRecord, derive
from dyno.client.toolcheck import judge_offered_call
from dyno.workloads.prompts import AGENT_CITIES, AGENT_TASKS, TOOLS

USER, TOOL = "user", "tool-result"  # what a turn sent last: a user's task, or tool results


def agent_task(rng: random.Random) -> str:
    return rng.choice(AGENT_TASKS).format(city=rng.choice(AGENT_CITIES))


def answer_calls(rec: RequestRecord, result: str, call_prefix: str) -> list[dict[str, Any]]:
    """The messages an agent appends after a reply that called tools: the reply with its calls, then
    each call's result (the synthetic `result` for a valid call, the judge's verdict for another)."""
    calls = [
        {
            "id": c.get("id") or f"{call_prefix}-{i}",
            "type": "function",
            "function": {"name": c.get("name") or "", "arguments": c.get("arguments") or ""},
        }
        for i, c in enumerate(rec.tool_calls)
    ]
    out: list[dict[str, Any]] = [{"role": "assistant", "content": rec.output_text or "", "tool_calls": calls}]
    for raw, call in zip(rec.tool_calls, calls, strict=True):
        verdict = judge_offered_call([raw], TOOLS)
        content = result if verdict.valid else json.dumps({"error": verdict.detail})
        out.append({"role": "tool", "tool_call_id": call["id"], "content": content})
    return out


def agent_rows(
    data: ScenarioData, answered: list[RequestRecord], turns: list[str]
) -> tuple[list[ResultRow], list[str]]:
    """Per turn: how often the model called a tool and how often the call was valid; TTFT and prompt
    tokens of user turns beside tool-result turns (a tool result is the part of the prompt that grows)."""
    name = data.name
    # A turn sent tool results exactly when its session's turn before it called a tool (a failed
    # turn ends its session, so that turn is among the answered).
    called_at = {(r.seq, r.label) for r in answered if r.tool_calls}

    def kind(r: RequestRecord) -> str:
        return TOOL if (r.seq, f"t{int(r.label[1:]) - 1}") in called_at else USER

    verdicts = {id(r): judge_offered_call(r.tool_calls, TOOLS) for r in answered if r.tool_calls}
    rows: list[ResultRow] = []

    def calls_rows(label: str, reqs: list[RequestRecord]) -> list[ResultRow]:
        called = [r for r in reqs if id(r) in verdicts]
        out = keep(ResultRow.scalar(name, label, "tool_call_rate", len(called) / len(reqs), n=len(reqs)))
        if called:
            valid = sum(verdicts[id(r)].valid for r in called)
            out += keep(ResultRow.scalar(name, label, "valid_tool_calls", valid / len(called), n=len(called)))
        return out

    for label in turns:
        reqs = [r for r in answered if r.label == label]
        if reqs:
            rows += calls_rows(label, reqs)
    for k in (USER, TOOL):
        reqs = [r for r in answered if r.label in turns and kind(r) == k]
        if not reqs:
            continue
        label = f"{k} turns"
        rows += keep(
            ResultRow.of(name, label, "ttft_ms", summarize(derive.ttft_ms(r) for r in reqs)),
            ResultRow.of(name, label, "prompt_tokens", summarize(r.prompt_tokens for r in reqs)),
            ResultRow.of(name, label, "output_tokens", summarize(r.output_tokens for r in reqs)),
        )
    if answered:
        rows += calls_rows("all", answered)
    notes: list[str] = []
    bad = Counter(v.reason for v in verdicts.values() if not v.valid)
    if bad:
        first = next(v for v in verdicts.values() if not v.valid)
        notes.append(
            f"{sum(bad.values())} of {len(verdicts)} tool calls invalid ("
            + ", ".join(f"{reason} {n}" for reason, n in bad.most_common())
            + f"; first: {first.detail}); each was answered with its error, as an agent would"
        )
    if answered and not verdicts:
        notes.append(
            f"no tool calls in {len(answered)} turns: the model answered every task in words "
            "(the server parsed none; a wrong --tool-call-parser looks like this too)"
        )
    return rows, notes
