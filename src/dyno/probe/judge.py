"""The decisions of `dyno check`, as pure functions over what an endpoint answered.

Gathering (HTTP) lives in probe/runner.py; everything here is tested on
recorded responses. Each check says pass / warn / fail / skipped, the
evidence it saw, and the fix. The router identity check (`--via`) has its
own module, probe/identity.py.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from dyno.client import RequestRecord, server_message
from dyno.client.toolcheck import judge_tool_call
from dyno.metrics.vllm import SpecDecodeDelta

Status = Literal["pass", "warn", "fail", "skipped"]

BASE_MODEL_MARKERS = ("chat template", "chat_template")
REASONING_MARKUP = (
    "<think>",
    "</think>",
    "<thinking>",
    "</thinking>",
    "<|channel|>",
    "<|start|>",
    "<reasoning>",
    "</reasoning>",
    "[THINK]",
    "<|channel>",
)
MIN_MEAN_ACCEPTANCE_LENGTH = 1.5  # below this a drafter costs more than it saves


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    evidence: str
    fix: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def _msg(r: RequestRecord) -> str:
    return server_message(r.error_message)


def degenerate(text: str) -> str | None:
    """Why `text` does not read like an answer, or None when it plausibly does."""
    t = text.strip()
    if not t:
        return "empty"
    bad = sum(1 for ch in t if ch == "\ufffd" or (not ch.isprintable() and ch not in "\n\t"))
    if bad / len(t) > 0.05:
        return "unprintable characters"
    letters = sum(ch.isalpha() for ch in t)
    if letters / len(t) < 0.4:
        return "mostly not letters"
    words = t.lower().split()
    if len(words) >= 8:
        top, n = Counter(words).most_common(1)[0]
        if n / len(words) > 0.4:
            return f"one word repeated ({top!r} is {n} of {len(words)} words)"
        grams = Counter(zip(words, words[1:], words[2:], strict=False))
        gram, g = grams.most_common(1)[0]
        if g >= 4 and g * 3 / len(words) > 0.5:
            return f"a phrase repeated ({' '.join(gram)!r} x{g})"
    return None


def judge_chat(r: RequestRecord) -> CheckResult:
    if r.http_status == 400 and any(m in (r.error_message or "").lower() for m in BASE_MODEL_MARKERS):
        return CheckResult(
            "chat",
            "chat completion",
            "fail",
            f"the server cannot apply a chat template: {_msg(r)}",
            "this is a base model (no chat template): serve the instruction-tuned (-it) checkpoint or pass "
            "--chat-template; and do not pair it with an -it drafter (acceptance collapses)",
            {"base_model": True},
        )
    if not r.ok:
        return CheckResult(
            "chat",
            "chat completion",
            "fail",
            f"{r.error_kind}: {_msg(r)}",
            "see the engine log (`dyno logs`)",
        )
    why = degenerate(r.output_text)
    if why:
        return CheckResult(
            "chat",
            "chat completion",
            "fail",
            f"greedy answer is not plausible text ({why}): {r.output_text[:120]!r}",
            "a base model behind a default template degenerates like this; check the checkpoint is "
            "instruction-tuned and its chat template; do not pair it with an -it drafter",
            {"degenerate": why},
        )
    return CheckResult(
        "chat",
        "chat completion",
        "pass",
        f"{r.output_tokens} tokens of plausible text: {r.output_text.strip()[:80]!r}",
    )


def tool_call_problems(calls: tuple[dict[str, Any], ...], tool: dict[str, Any]) -> list[str]:
    """Why the calls do not invoke `tool` correctly (verify's rule: the first parsed call); [] if they do."""
    v = judge_tool_call(calls, tool)
    if v.valid:
        return []
    if v.reason == "no_tool_call":
        return ["no tool call came back"]
    if v.reason == "schema_invalid":
        return [f"arguments do not match the schema: {v.detail}"]
    if v.reason == "unparsable_arguments":
        return [f"arguments are {v.detail}: {str(v.arguments)[:80]!r}"]
    return [v.detail]


def _enable_tools(engine: str | None, parser_hint: str) -> str:
    """How to turn tool calling on, in the words of the engine that refused it."""
    if engine == "ollama":
        return (
            "Ollama serves tools only for models whose template declares them (`ollama show MODEL` "
            "lists 'tools' under Capabilities): pull such a model"
        )
    if engine == "llama.cpp":
        return "start llama-server with --jinja and a chat template that handles tools (--chat-template-file)"
    return f"start the server with --enable-auto-tool-choice --tool-call-parser {parser_hint}"


def judge_tools(
    auto: RequestRecord,
    required: RequestRecord | None,
    named: RequestRecord | None,
    tool: dict[str, Any],
    *,
    expect: bool,
    parser_hint: str,
    engine: str | None = None,
) -> CheckResult:
    title = "tool calling"
    if auto.http_status == 400 and "tool" in (auto.error_message or "").lower():
        return CheckResult(
            "tools",
            title,
            "fail",
            f'tool_choice "auto" is refused with HTTP 400: {_msg(auto)}',
            f"{_enable_tools(engine, parser_hint)}; until then every client that sends tools gets a 400, "
            "and a router with fallback silently sends those requests to another model",
            {"enabled": False},
        )
    if not auto.ok:
        return CheckResult("tools", title, "fail", f"tools request failed: {auto.error_kind}: {_msg(auto)}")
    outcomes = {"auto": tool_call_problems(auto.tool_calls, tool)}
    for name, rec in (("required", required), ("named", named)):
        if rec is None:
            continue
        outcomes[name] = (
            [f"{rec.error_kind}: {_msg(rec)}"] if not rec.ok else tool_call_problems(rec.tool_calls, tool)
        )
    bad = {k: v for k, v in outcomes.items() if v}
    evidence = "; ".join(f"{k}: {'ok' if not v else ', '.join(v)}" for k, v in outcomes.items())
    if not bad:
        return CheckResult("tools", title, "pass", evidence, facts={"enabled": True})
    return CheckResult(
        "tools",
        title,
        "fail" if expect else "warn",
        evidence,
        "tool calling is on, but the model's calls are not valid (small models often cannot); "
        "check the parser matches the model's format",
        {"enabled": True, "problems": bad},
    )


def judge_reasoning(r: RequestRecord, *, expect: bool) -> CheckResult:
    title = "reasoning"
    absent: Status = "fail" if expect else "skipped"
    if not r.ok:
        return CheckResult("reasoning", title, absent, f"{r.error_kind}: {_msg(r)}")
    leaked = [m for m in REASONING_MARKUP if m in r.output_text]
    if r.reasoning_text:
        if leaked:
            return CheckResult(
                "reasoning",
                title,
                "fail",
                f"reasoning arrives in its own field, but {leaked} also leak into content",
                "check that --reasoning-parser matches the model",
            )
        return CheckResult(
            "reasoning",
            title,
            "pass",
            f"{len(r.reasoning_text)} characters of reasoning in their own field, none in content",
        )
    if leaked:
        return CheckResult(
            "reasoning",
            title,
            "fail" if expect else "warn",
            f"reasoning markup {leaked} is in content and no reasoning field came back",
            "start the server with --reasoning-parser <parser for the model>",
        )
    return CheckResult(
        "reasoning",
        title,
        "fail" if expect else "skipped",
        "no reasoning field and no reasoning markup: no reasoning parser is on "
        "(or the model does not reason)",
        "--reasoning-parser <parser> if the model thinks" if expect else "",
    )


def judge_spec(delta: SpecDecodeDelta | None, *, expect: bool) -> CheckResult:
    title = "speculative decoding"
    off: Status = "fail" if expect else "skipped"
    if delta is None:
        return CheckResult(
            "spec",
            title,
            off,
            "no vllm:spec_decode_* counters on /metrics: speculation is off",
            "--speculative-config '{...}'" if expect else "",
        )
    if not delta.active:
        return CheckResult(
            "spec", title, off, "the spec-decode counters exist but did not move during a request"
        )
    facts = {
        "acceptance_rate": delta.acceptance_rate,
        "mean_acceptance_length": delta.mean_acceptance_length,
        "drafts": delta.drafts,
        "per_position": list(delta.per_position_rate),
    }
    ev = (
        f"acceptance {delta.acceptance_rate:.0%}, mean acceptance length {delta.mean_acceptance_length:.2f} "
        f"over {delta.drafts:.0f} drafts; per position "
        + ", ".join(f"{p:.0%}" for p in delta.per_position_rate)
    )
    if (delta.mean_acceptance_length or 0) < MIN_MEAN_ACCEPTANCE_LENGTH:
        return CheckResult(
            "spec",
            title,
            "warn",
            ev,
            "acceptance this low does not pay for a drafter (a base target paired with an "
            "-it drafter looks exactly like this): check the pairing, or turn speculation off",
            facts,
        )
    return CheckResult("spec", title, "pass", ev, facts=facts)


def judge_streaming(r: RequestRecord, metrics_tokens: float | None) -> CheckResult:
    title = "streaming usage"
    if not r.ok:
        return CheckResult("streaming", title, "fail", f"{r.error_kind}: {_msg(r)}")
    if r.output_tokens is None:
        return CheckResult(
            "streaming",
            title,
            "fail",
            "no usage in the final chunk although stream_options.include_usage was sent",
            "clients and benchmarks fall back to counting chunks, which is wrong under "
            "speculation; use a server that honours include_usage",
        )
    if metrics_tokens is None:
        return CheckResult(
            "streaming",
            title,
            "pass",
            f"usage in the final chunk ({r.output_tokens} tokens); no /metrics to compare",
        )
    if abs(metrics_tokens - r.output_tokens) > max(1.0, 0.01 * r.output_tokens):
        return CheckResult(
            "streaming",
            title,
            "warn",
            f"usage says {r.output_tokens} tokens, /metrics moved by {metrics_tokens:.0f}",
            "other traffic on the server, or the counts disagree",
        )
    return CheckResult(
        "streaming",
        title,
        "pass",
        f"usage in the final chunk ({r.output_tokens} tokens) agrees with /metrics",
    )


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def judge_exposure(url_host: str, bound: list[str], auth_required: bool | None) -> CheckResult:
    """`bound`: the addresses the server listens on when we can see them (same machine), else []."""
    title = "exposure"
    wide = [a for a in bound if not is_loopback(a)]
    beyond = wide or (not bound and not is_loopback(url_host))
    where = f"listening on {', '.join(bound)}" if bound else f"reached at {url_host}"
    facts = {"beyond_loopback": bool(beyond)}
    if not beyond:
        return CheckResult("exposure", title, "pass", f"{where}: loopback only", facts=facts)
    if auth_required:
        return CheckResult("exposure", title, "pass", f"{where}, and it requires an API key", facts=facts)
    fix = (
        "bind 127.0.0.1 (dyno's default) or set an API key (vLLM reads VLLM_API_KEY; "
        "`dyno up --api-key-env VAR`)"
    )
    if auth_required is None:
        return CheckResult(
            "exposure",
            title,
            "warn",
            f"{where}; whether it requires an API key could not be told",
            fix,
            facts,
        )
    # As `dyno lint` does for a command: an open server beyond loopback is an error, not a hint.
    return CheckResult(
        "exposure",
        title,
        "fail",
        f"{where} without an API key: anyone who can reach it can use it",
        fix,
        facts,
    )
