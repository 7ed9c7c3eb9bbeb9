"""`dyno bench`: run scenarios against an endpoint, storing every request and scrape as it happens.

A run that dies (server killed, Ctrl-C) keeps everything it measured and is
marked `partial`; a scenario that fails is recorded as failed and the suite goes on.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dyno import provenance
from dyno.bench.demo import RunSink
from dyno.bench.scenario import BenchContext, Scenario, ServerGone
from dyno.client import ClientConfig, Endpoint, RequestRecord, StreamClient
from dyno.engine import profiles, supervisor
from dyno.engine.state import EngineState, liveness, read_state
from dyno.errors import EndpointError, UsageError
from dyno.settings import Settings
from dyno.workloads.synthetic import pick_tokenizer


class BenchSink(RunSink, Protocol):
    def add_scrape(self, run_id: int, scenario: str, label: str, t_ns: int, text: str) -> None: ...
    def start_scenario(self, run_id: int, name: str, config: dict[str, Any]) -> int: ...
    def finish_scenario(
        self, scenario_id: int, status: str, notes: list[str], facts: dict[str, Any]
    ) -> None: ...


class BenchProgress(Protocol):
    def begin(self, total_requests: int) -> None: ...
    def scenario(self, name: str) -> None: ...
    def advance(self, n: int) -> None: ...


@dataclass(frozen=True)
class Target:
    url: str
    state: EngineState | None  # when dyno launched the engine behind the URL
    launched_here: bool


@dataclass(frozen=True)
class BenchResult:
    run_id: int
    status: str  # complete | partial
    url: str
    message: str  # why a run is partial; "" when complete
    scenario_status: dict[str, str]


DEFINITIONS = {
    "ttft": "request sent -> first chunk carrying content or reasoning (not the role-only chunk)",
    "decode_tok_s": "(usage output tokens - tokens in the first content chunk) "
    "/ (last - first content chunk)",
    "itl": "gap between content chunks / tokens in the later chunk (several under speculation)",
    "tokens": "from the server's usage; per-chunk counts from continuous_usage_stats; "
    "cross-checked against the vllm:generation_tokens_total delta",
    "warmup": "requests labelled warmup are stored but excluded from every figure",
}


def resolve_target(
    settings: Settings,
    url: str | None,
    *,
    step: Callable[[str], None],
    on_engine_progress: supervisor.ProgressFn | None,
) -> Target:
    state = read_state(settings)
    alive = state is not None and liveness(state).alive
    if url:
        url = url.rstrip("/").removesuffix("/v1")
        same = alive and state is not None and state.url == url
        return Target(url, state if same else None, False)
    if alive and state is not None:
        return Target(state.url, state, False)
    step("no engine running: starting the embedded one")
    prof = profiles.load_profile(settings, profiles.DEFAULT_PROFILE)
    recipe = profiles.to_recipe(settings, prof)
    new = supervisor.start(settings, prof.name, recipe, on_progress=on_engine_progress)
    return Target(new.url, new, True)


class _Rows:
    """Adapts the run sink to what a scenario context writes."""

    def __init__(self, sink: BenchSink, run_id: int) -> None:
        self.sink, self.run_id = sink, run_id
        self.requests = 0

    def on_request(self, r: RequestRecord) -> None:
        self.sink.add_request(self.run_id, r)
        self.requests += 1

    def on_scrape(self, scenario: str, label: str, t_ns: int, text: str) -> None:
        self.sink.add_scrape(self.run_id, scenario, label, t_ns, text)


def run_bench(
    settings: Settings,
    sink: BenchSink,
    scenarios: list[Scenario],
    *,
    url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
    suite: str = "custom",
    keep: bool = False,
    progress: BenchProgress | None = None,
    step: Callable[[str], None] = lambda _m: None,
    on_engine_progress: supervisor.ProgressFn | None = None,
) -> BenchResult:
    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise UsageError(f"--api-key-env {api_key_env}: that environment variable is not set")
    target = resolve_target(settings, url, step=step, on_engine_progress=on_engine_progress)
    try:
        return _bench(settings, sink, scenarios, target, model, api_key, api_key_env, suite, progress, step)
    finally:
        if target.launched_here and not keep:
            step("stopping the engine dyno started")
            supervisor.stop(settings)


def _bench(
    settings: Settings,
    sink: BenchSink,
    scenarios: list[Scenario],
    target: Target,
    model: str | None,
    api_key: str | None,
    api_key_env: str | None,
    suite: str,
    progress: BenchProgress | None,
    step: Callable[[str], None],
) -> BenchResult:
    ep = Endpoint(target.url, api_key=api_key)
    try:
        served = ep.models()
    except EndpointError as e:
        raise EndpointError(f"cannot benchmark {target.url}: {e}") from e
    ids = [m.id for m in served]
    if model is None:
        if len(ids) != 1:
            raise UsageError(f"{target.url} serves {ids or 'no models'}; pick one with --model")
        model = ids[0]
    elif model not in ids:
        raise UsageError(f"{target.url} does not serve {model!r}; it serves {ids}")
    chosen = next(m for m in served if m.id == model)
    max_len = chosen.max_model_len or 4096
    version = ep.version()
    state = target.state
    run_id = sink.start_run(
        kind="bench",
        endpoint=target.url,
        engine="vllm" if version else None,
        engine_version=version,
        model=model,
        launch_config=None
        if state is None
        else {
            "profile": state.profile,
            "recipe": state.recipe,
            "command": state.command,
            "log_facts": state.facts,
        },
        hardware=provenance.hardware() | {"software": provenance.software()},
        method={
            "suite": suite,
            "scenarios": [{"name": s.name, **s.config()} for s in scenarios],
            "definitions": DEFINITIONS,
            "api_key_env": api_key_env,
        },
        server_info={
            "version": version,
            "models": [m.__dict__ for m in served],
            "max_model_len": chosen.max_model_len,
        },
    )
    rows = _Rows(sink, run_id)
    status = "partial"
    message = "interrupted"
    outcome: dict[str, str] = {}
    try:
        message = asyncio.run(
            _run_scenarios(
                sink,
                rows,
                scenarios,
                target.url,
                ep,
                model,
                max_len,
                api_key,
                chosen.root,
                run_id,
                progress,
                outcome,
            )
        )
        status = "complete" if not message else "partial"
    finally:
        sink.finish_run(run_id, status, note=message or None)
        ep.close()
    return BenchResult(run_id, status, target.url, message, outcome)


async def _run_scenarios(
    sink: BenchSink,
    rows: _Rows,
    scenarios: list[Scenario],
    url: str,
    ep: Endpoint,
    model: str,
    max_len: int,
    api_key: str | None,
    model_root: str | None,
    run_id: int,
    progress: BenchProgress | None,
    outcome: dict[str, str],
) -> str:
    """Runs every scenario; returns "" when the suite ran through, else why it stopped."""
    tokenizer = await pick_tokenizer(ep, model, model_root)
    if progress:
        progress.begin(sum(s.planned_requests(max_len) for s in scenarios))
    async with StreamClient(url, api_key=api_key, config=ClientConfig()) as client:
        ctx = BenchContext(
            client=client,
            endpoint=ep,
            model=model,
            max_model_len=max_len,
            tokenizer=tokenizer,
            sink=rows,
            run_salt=f"{run_id}{secrets.token_hex(3)}",
            advance=progress.advance if progress else (lambda _n: None),
        )
        for i, sc in enumerate(scenarios):
            if progress:
                progress.scenario(sc.name)
            sid = sink.start_scenario(run_id, sc.name, sc.config() | {"tokenizer": tokenizer.method})
            notes: list[str] = []
            try:
                await ctx.scrape(sc.name, "before")
                cpu0, wall0 = time.process_time(), time.monotonic()
                result = await sc.run(ctx)
                # How busy dyno itself was: near a full core, its own lag enters TTFT/ITL.
                client_cpu = (time.process_time() - cpu0) / max(time.monotonic() - wall0, 1e-9)
                await ctx.scrape(sc.name, "after")
                facts = result.facts | {"client_cpu_fraction": round(client_cpu, 3)}
                sink.finish_scenario(sid, result.status, list(result.notes), facts)
                outcome[sc.name] = result.status
            except ServerGone as e:
                sink.finish_scenario(sid, "partial", [str(e)], {})
                outcome[sc.name] = "partial"
                for rest in scenarios[i + 1 :]:
                    outcome[rest.name] = "skipped"
                return (
                    f"the server stopped answering during {sc.name}: {e}. "
                    f"{rows.requests} finished requests are stored"
                )
            except asyncio.CancelledError:
                sink.finish_scenario(sid, "partial", ["interrupted"], {})
                raise
            except Exception as e:  # a broken scenario must not take the suite down with it
                notes.append(f"scenario failed: {type(e).__name__}: {e}")
                sink.finish_scenario(sid, "failed", notes, {})
                outcome[sc.name] = "failed"
    # No settling delay before the last scrape: vLLM 0.32 records a step's
    # counters in the same event-loop turn that queues its final chunks
    # (AsyncLLM.output_handler), except after a stop-string abort or a batch
    # larger than its output chunk size; a race there shows up as a reported
    # token disagreement, which is the honest outcome.
    return ""
