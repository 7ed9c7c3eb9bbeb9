"""`dyno check`: probe a live endpoint for the traps, store the verdicts as a run (kind `check`).

Every request a check sends is stored raw (scenario = the check's id), and
every verdict is stored as a check row (status, evidence, fix, facts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psutil

from dyno import signals
from dyno.bench.scenario import scrape_into
from dyno.bench.scenarios.features import suggest_tool_parser
from dyno.bench.tally import Tally, run_status
from dyno.client import ClientConfig, Endpoint, GenRequest, RequestRecord, StreamClient, loop
from dyno.engine.target import Target, TargetSpec, is_this_machine, open_target
from dyno.metrics import Scrape, counter_delta
from dyno.metrics.vllm import GENERATION_TOKENS, spec_decode_delta
from dyno.probe.judge import (
    CanaryPair,
    CheckResult,
    identity_headers,
    judge_chat,
    judge_exposure,
    judge_identity,
    judge_reasoning,
    judge_spec,
    judge_streaming,
    judge_tools,
)
from dyno.settings import Settings
from dyno.store import CheckRow, RunSink
from dyno.workloads.prompts import CODE_PROMPTS, TOOL_TASK, WEATHER_TOOL

CHAT_PROMPT = "Reply with one short sentence: what colour is the sky on a clear day?"
REASONING_PROMPT = "What is 17 times 23? Think it through step by step, then give the answer."
CANARIES = (
    ("capital", "What is the capital of Italy? Answer with one word.", 8),
    ("count", "Count from one to five in words.", 24),
    ("code", "Write a Python one-liner that reverses a string s.", 32),
)


@dataclass(frozen=True)
class CheckOptions:
    url: str | None = None
    model: str | None = None
    via: str | None = None
    expect_tools: bool = False
    expect_reasoning: bool = False
    expect_spec: bool = False
    api_key_env: str | None = None


# A check's 4xx is an answer the check judges (tools not enabled, a base model without a chat
# template), not a failed request.
CHECK_ANSWERS = ("http_4xx",)


@dataclass(frozen=True)
class CheckReport:
    run_id: int
    url: str
    model: str | None
    engine_version: str | None
    results: list[CheckResult]
    tally: Tally = field(default_factory=lambda: Tally(CHECK_ANSWERS))

    @property
    def failed(self) -> bool:
        return any(r.status == "fail" for r in self.results)

    def exit_code(self, max_error_rate: float = 0.0) -> int:
        return 1 if self.failed or self.tally.over(max_error_rate) else 0


class _Probe:
    """Sends the checks' requests; stores each as it finishes."""

    def __init__(
        self, sink: RunSink, run_id: int, client: StreamClient, ep: Endpoint, model: str, tally: Tally
    ) -> None:
        self.sink, self.run_id, self.client, self.ep, self.model = sink, run_id, client, ep, model
        self.tally = tally

    def chat(self, text: str, max_tokens: int, **kw: Any) -> GenRequest:
        return GenRequest(
            self.model,
            ({"role": "user", "content": text},),
            max_tokens=max_tokens,
            temperature=0.0,
            seed=0,
            **kw,
        )

    def complete(self, text: str, max_tokens: int) -> GenRequest:
        return GenRequest(
            self.model, prompt=text, endpoint="completions", max_tokens=max_tokens, temperature=0.0, seed=0
        )

    async def send(
        self, req: GenRequest, check: str, label: str = "", *, client: StreamClient | None = None
    ) -> RequestRecord:
        rec = (await (client or self.client).generate(req)).tagged(check, label)
        self.sink.add_request(self.run_id, rec)
        self.tally.add(rec)
        return rec

    async def scrape(self, check: str, label: str) -> Scrape | None:
        return await scrape_into(self.sink, self.run_id, self.ep, check, label)


def _listening_addresses(port: int) -> list[str]:
    with contextlib.suppress(psutil.Error, OSError):
        return sorted(
            {
                c.laddr.ip
                for c in psutil.net_connections(kind="inet")
                if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
            }
        )
    return []


def _auth_required(url: str) -> bool | None:
    """Does the server refuse a request that carries no API key? None when it does not answer."""
    with Endpoint(url) as anonymous:
        code = anonymous.status_code("/v1/models")
    return None if code is None else code in (401, 403)


def run_check(
    settings: Settings, sink: RunSink, opts: CheckOptions, step: Callable[[str], None] = lambda _m: None
) -> CheckReport:
    spec = TargetSpec(opts.url, opts.model, opts.api_key_env)
    with open_target(settings, spec, step=step, strict=False) as target:
        return _check(sink, opts, target, step)


def _reachable(target: Target, healthy: bool) -> CheckResult:
    health = "200" if healthy else "failing"
    if target.model is None:
        fix = (
            "is the server up? (`dyno status`, `dyno logs`)"
            if not target.served
            else "pass --model with one of the served names"
        )
        return CheckResult("reachable", "reachable", "fail", f"/health {health}; {target.problem}", fix)
    m = target.served_model
    ev = (
        f"/health {health}; /version {target.engine_version or 'absent'}; "
        f"/v1/models lists {target.model!r}, max_model_len {m.max_model_len if m else None}"
    )
    return CheckResult(
        "reachable",
        "reachable",
        "pass" if healthy else "warn",
        ev,
        facts={"engine_version": target.engine_version, "max_model_len": m.max_model_len if m else None},
    )


def _check(sink: RunSink, opts: CheckOptions, target: Target, step: Callable[[str], None]) -> CheckReport:
    url, api_key = target.url, target.api_key
    with target.endpoint() as ep:
        first = _reachable(target, ep.healthy())
        run_id = sink.start_run(
            kind="check",
            prov=target.provenance(),
            method={
                "via": opts.via,
                "expect_tools": opts.expect_tools,
                "expect_reasoning": opts.expect_reasoning,
                "expect_spec": opts.expect_spec,
            },
        )
        results = [first]
        tally = Tally(CHECK_ANSWERS)
        status, note = "partial", "stopped by an error"  # a crash or Ctrl-C keeps what was decided
        try:
            if target.model is not None:
                loop.run(
                    _live_checks(sink, run_id, opts, url, api_key, ep, target.model, step, results, tally)
                )
            status, note = run_status(True, tally), tally.summary()
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP (dyno.signals)
            note = signals.describe(e)
            raise
        finally:
            for r in results:
                sink.add_check(run_id, CheckRow(r.id, r.title, r.status, r.evidence, r.fix, r.facts))
            sink.finish_run(run_id, status, note=note or None)
    return CheckReport(run_id, url, target.model, target.engine_version, results, tally)


async def _live_checks(
    sink: RunSink,
    run_id: int,
    opts: CheckOptions,
    url: str,
    api_key: str | None,
    ep: Endpoint,
    model: str,
    step: Callable[[str], None],
    out: list[CheckResult],
    tally: Tally,
) -> None:
    """Appends each verdict to `out` as soon as it is reached."""
    # include_usage only (no vLLM extensions): check what a plain OpenAI client gets.
    cfg = ClientConfig(continuous_usage=False, read_timeout_s=120)
    async with StreamClient(url, api_key=api_key, config=cfg) as client:
        p = _Probe(sink, run_id, client, ep, model, tally)
        step("chat")
        chat = judge_chat(await p.send(p.chat(CHAT_PROMPT, 32), "chat"))
        out.append(chat)
        # A base model cannot chat: the checks below that only need tokens use
        # /v1/completions instead, so they still say something about the server.
        base = bool(chat.facts.get("base_model"))

        def ask(text: str, n: int) -> GenRequest:
            return p.complete(text, n) if base else p.chat(text, n)

        step("tool calling")
        auto = await p.send(p.chat(TOOL_TASK, 96, tools=(WEATHER_TOOL,), tool_choice="auto"), "tools", "auto")
        required = named = None
        if auto.ok:
            required = await p.send(
                p.chat(TOOL_TASK, 96, tools=(WEATHER_TOOL,), tool_choice="required"), "tools", "required"
            )
            pick = {"type": "function", "function": {"name": "get_weather"}}
            named = await p.send(
                p.chat(TOOL_TASK, 96, tools=(WEATHER_TOOL,), tool_choice=pick), "tools", "named"
            )
        out.append(
            judge_tools(
                auto,
                required,
                named,
                WEATHER_TOOL,
                expect=opts.expect_tools,
                parser_hint=suggest_tool_parser(model),
            )
        )

        step("reasoning")
        if base:
            out.append(
                CheckResult(
                    "reasoning",
                    "reasoning",
                    "fail" if opts.expect_reasoning else "skipped",
                    "not checked: a base model has no chat turn to reason in",
                )
            )
        else:
            out.append(
                judge_reasoning(
                    await p.send(p.chat(REASONING_PROMPT, 128), "reasoning"), expect=opts.expect_reasoning
                )
            )

        step("speculative decoding")
        before = await p.scrape("spec", "before")
        await p.send(ask(CODE_PROMPTS[0], 64), "spec")
        after = await p.scrape("spec", "after")
        out.append(
            judge_spec(
                spec_decode_delta(before, after) if before and after else None, expect=opts.expect_spec
            )
        )

        step("streaming usage")
        before = await p.scrape("streaming", "before")
        rec = await p.send(ask("Name three colours.", 24), "streaming")
        after = await p.scrape("streaming", "after")
        delta = counter_delta(before, after, GENERATION_TOKENS) if before and after else None
        out.append(judge_streaming(rec, delta))

        if opts.via:
            step(f"served identity through {opts.via}")
            out.append(await _identity(p, opts.via.rstrip("/").removesuffix("/v1"), api_key, cfg))

    parts = urlsplit(url)
    host = parts.hostname or ""
    # Which addresses it listens on can only be seen when it runs on this machine.
    bound = _listening_addresses(parts.port or 80) if is_this_machine(host) else []
    out.append(judge_exposure(host, bound, await asyncio.to_thread(_auth_required, url)))


async def _identity(p: _Probe, via: str, api_key: str | None, cfg: ClientConfig) -> CheckResult:
    pairs = []
    async with StreamClient(via, api_key=api_key, config=cfg) as routed:
        reqs = [(name, p.chat(text, n)) for name, text, n in CANARIES]
        # The trap this check exists for: a 4xx (here: tools not enabled) that a
        # router answers from another model instead of passing it on.
        reqs.append(("tools-auto", p.chat(TOOL_TASK, 48, tools=(WEATHER_TOOL,), tool_choice="auto")))
        for name, req in reqs:
            direct = await p.send(req, "identity", f"direct:{name}")
            via_rec = await p.send(req, "identity", f"via:{name}", client=routed)
            pairs.append(CanaryPair(name, direct, via_rec))
    d_headers = identity_headers(pairs[0].direct.response_headers)
    r_headers = identity_headers(pairs[0].routed.response_headers)
    return judge_identity(pairs, d_headers, r_headers)
