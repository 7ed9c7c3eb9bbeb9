"""`dyno check`: probe a live endpoint for the traps, store the verdicts as a run (kind `check`).

Every request a check sends is stored raw (scenario = the check's id), and
every verdict is stored as a check row (status, evidence, fix, facts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from dyno.catalog.tools import suggest_tool_parser
from dyno.client import ClientConfig, Endpoint, GenRequest, StreamClient, loop
from dyno.engine.net import is_this_machine, listening_addresses
from dyno.engine.target import Target, TargetSpec, open_target, read_api_key
from dyno.errors import UsageError
from dyno.metrics import counter_delta
from dyno.metrics.vllm import GENERATION_TOKENS, spec_decode_delta
from dyno.probe.identity import OVERFLOW, TOOLS_AUTO, CanaryPair, judge_identity, overflow_prompt
from dyno.probe.judge import (
    CheckResult,
    judge_chat,
    judge_exposure,
    judge_reasoning,
    judge_spec,
    judge_streaming,
    judge_tools,
)
from dyno.probe.llamacpp import check_slots
from dyno.probe.ollama import ollama_checks
from dyno.probe.send import Prober
from dyno.recipe import engine_name
from dyno.settings import Settings
from dyno.store import CheckRow, RunOutcome, RunRecorder, RunSink, record_run
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
    via_model: str | None = None  # the router's name for the model (default: the engine's)
    via_api_key_env: str | None = None  # the env var holding the router's key (never the engine's)


@dataclass(frozen=True)
class _Router:
    """How `--via` is asked: the router's URL, its name for the model, its key; and the engine's
    context (when /v1/models says it), which the context-overflow canary must exceed."""

    url: str
    model: str
    api_key: str | None = field(repr=False)
    max_model_len: int | None


# A check's 4xx is an answer the check judges (tools not enabled, a base model without a chat
# template), not a failed request.
CHECK_ANSWERS = ("http_4xx",)


@dataclass(frozen=True)
class CheckReport(RunOutcome):
    """A check run's outcome, with its verdicts."""

    url: str = ""
    model: str | None = None
    engine_version: str | None = None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.status == "fail" for r in self.results)


def _auth_required(url: str) -> bool | None:
    """Does the server refuse a request that carries no API key? None when it does not answer."""
    with Endpoint(url) as anonymous:
        code = anonymous.status_code("/v1/models")
    return None if code is None else code in (401, 403)


def run_check(
    settings: Settings,
    sink: RunSink,
    opts: CheckOptions,
    step: Callable[[str], None] = lambda _m: None,
    max_error_rate: float = 0.0,
) -> CheckReport:
    via_key = _via_key(opts)
    spec = TargetSpec(opts.url, opts.model, opts.api_key_env)
    with open_target(settings, spec, step=step, strict=False) as target:
        return _check(sink, opts, target, step, via_key, max_error_rate)


def _via_key(opts: CheckOptions) -> str | None:
    """The router's key, read before anything is started or sent."""
    if not opts.via and (opts.via_model or opts.via_api_key_env):
        raise UsageError("--via-model and --via-api-key-env describe a router: pass it with --via URL")
    try:
        return read_api_key(opts.via_api_key_env)
    except UsageError:
        raise UsageError(
            f"--via-api-key-env {opts.via_api_key_env}: that environment variable is not set"
        ) from None


def _router(opts: CheckOptions, target: Target, via_key: str | None) -> _Router | None:
    if not opts.via or target.model is None:
        return None
    served = target.served_model
    return _Router(
        opts.via.rstrip("/").removesuffix("/v1"),
        opts.via_model or target.model,
        via_key,
        served.max_model_len if served else None,
    )


def _reachable(target: Target, healthy: bool, route: str = "/health") -> CheckResult:
    health = f"{route} {'200' if healthy else 'failing'}"
    if target.model is None:
        fix = (
            "is the server up? (`dyno status`, `dyno logs`)"
            if not target.served
            else "pass --model with one of the served names"
        )
        return CheckResult("reachable", "reachable", "fail", f"{health}; {target.problem}", fix)
    m = target.served_model
    ev = (
        f"{health}; {engine_name(target.engine)} {target.engine_version or 'version absent'}; "
        f"/v1/models lists {target.model!r}, max_model_len {m.max_model_len if m else None}"
    )
    return CheckResult(
        "reachable",
        "reachable",
        "pass" if healthy else "warn",
        ev,
        facts={
            "engine": target.engine,
            "engine_version": target.engine_version,
            "max_model_len": m.max_model_len if m else None,
        },
    )


def _check(
    sink: RunSink,
    opts: CheckOptions,
    target: Target,
    step: Callable[[str], None],
    via_key: str | None,
    max_error_rate: float,
) -> CheckReport:
    method = {
        "via": opts.via,
        "via_model": opts.via_model,
        "via_api_key_env": opts.via_api_key_env,
        "expect_tools": opts.expect_tools,
        "expect_reasoning": opts.expect_reasoning,
        "expect_spec": opts.expect_spec,
    }
    with target.endpoint() as ep:
        # Ollama has no /health (404); its root answers 200 "Ollama is running".
        health_route = "/" if target.engine == "ollama" else "/health"
        results = [_reachable(target, ep.healthy(health_route), health_route)]
        prov = target.provenance()
        with record_run(
            sink, "check", prov, method, ignore_kinds=CHECK_ANSWERS, max_error_rate=max_error_rate
        ) as run:
            try:
                if target.model is not None:
                    router = _router(opts, target, via_key)
                    loop.run(_live_checks(run, opts, target, ep, step, results, router))
            finally:  # a crash or Ctrl-C keeps what was decided
                for r in results:
                    run.add_check(CheckRow(r.id, r.title, r.status, r.evidence, r.fix, r.facts))
            if failed := [r.id for r in results if r.status == "fail"]:
                run.fail(f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return run.outcome.with_details(
        CheckReport, url=target.url, model=target.model, engine_version=target.engine_version, results=results
    )


async def _live_checks(
    run: RunRecorder,
    opts: CheckOptions,
    target: Target,
    ep: Endpoint,
    step: Callable[[str], None],
    out: list[CheckResult],
    router: _Router | None = None,
) -> None:
    """Appends each verdict to `out` as soon as it is reached. `router`: the router of `--via`."""
    url, api_key, model = target.url, target.api_key, target.model
    if model is None:  # _check runs the live checks only when a model was picked
        return
    # include_usage only (no vLLM extensions): check what a plain OpenAI client gets.
    cfg = ClientConfig(continuous_usage=False, read_timeout_s=120)
    async with StreamClient(url, api_key=api_key, config=cfg) as client:
        p = Prober(run, client, ep, model)
        if target.engine == "ollama":  # first: its cold-load check must see the model as the user left it
            out.extend(await ollama_checks(p, step))
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
                engine=target.engine,
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

        if router is not None:
            step(f"served identity through {router.url}")
            out.append(await _identity(p, router, cfg))

    parts = urlsplit(url)
    host = parts.hostname or ""
    # Which addresses it listens on can only be seen when it runs on this machine.
    bound = listening_addresses(parts.port or 80) if is_this_machine(host) else []
    exposure = judge_exposure(host, bound, await asyncio.to_thread(_auth_required, url))
    out.append(exposure)
    if target.engine == "llama.cpp":
        beyond = bool(exposure.facts.get("beyond_loopback"))
        out.append(await asyncio.to_thread(check_slots, url, api_key, beyond))


async def _identity(p: Prober, router: _Router, cfg: ClientConfig) -> CheckResult:
    pairs = []
    async with StreamClient(router.url, api_key=router.api_key, config=cfg) as routed:
        reqs = [(name, p.chat(text, n)) for name, text, n in CANARIES]
        # The trap this check exists for: a 4xx that a router answers from another model instead
        # of passing it on. Here: tools not enabled, and a prompt over the engine's context.
        reqs.append((TOOLS_AUTO, p.chat(TOOL_TASK, 48, tools=(WEATHER_TOOL,), tool_choice="auto")))
        if (long := overflow_prompt(router.max_model_len)) is not None:
            reqs.append((OVERFLOW, p.chat(long, 8)))
        for name, req in reqs:
            direct = await p.send(req, "identity", f"direct:{name}")
            via_rec = await p.send(replace(req, model=router.model), "identity", f"via:{name}", client=routed)
            pairs.append(CanaryPair(name, direct, via_rec))
    return judge_identity(pairs, router.max_model_len, via_url=router.url)
