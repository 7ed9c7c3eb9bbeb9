"""`dyno demo`: bring the embedded engine up, measure a few real things, store them, take it down.

The measurement is small on purpose (it must finish in a few minutes on two
cores) but measured the way `dyno bench` measures: streamed, raw timestamps,
token counts from the server, cross-checked against /metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dyno import provenance
from dyno.bench import derive
from dyno.bench.stats import Summary, summarize
from dyno.catalog import get_hardware
from dyno.client import Endpoint, GenRequest, RequestRecord, StreamClient
from dyno.engine import profiles, supervisor
from dyno.engine.state import EngineState, liveness, read_state
from dyno.errors import EndpointError, EngineError
from dyno.metrics import counter_delta, parse
from dyno.plan import served_model_ceiling_tok_s
from dyno.settings import Settings

DECODE_TOKENS = 256
DECODE_REPEATS = 3
CONCURRENCY = 4
SANITY_PROMPT = "In one sentence, what does a dynamometer measure?"
STORY_PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."


class RunSink(Protocol):
    """Where measurements go as they happen (the store implements it)."""

    def start_run(
        self,
        *,
        kind: str,
        endpoint: str | None,
        engine: str | None = None,
        engine_version: str | None = None,
        model: str | None = None,
        launch_config: dict[str, Any] | None = None,
        hardware: dict[str, Any] | None = None,
        method: dict[str, Any] | None = None,
        server_info: dict[str, Any] | None = None,
        clock: tuple[int, int] | None = None,
    ) -> int: ...
    def add_request(self, run_id: int, r: RequestRecord) -> int: ...
    def finish_run(self, run_id: int, status: str, note: str | None = None) -> None: ...


@dataclass(frozen=True)
class DemoFigures:
    sanity_text: str
    decode_tok_s: Summary | None
    ttft_ms: Summary | None
    concurrent_aggregate_tok_s: float | None
    concurrent_per_request_tok_s: Summary | None
    concurrent_ttft_ms: Summary | None
    usage_output_tokens: int
    errors: int


def demo_figures(records: list[RequestRecord]) -> DemoFigures:
    """The demo's numbers, derived from its stored request rows."""

    def by(scenario: str) -> list[RequestRecord]:
        return [r for r in records if r.scenario == scenario and r.ok]

    sanity = by("sanity")
    decode, conc = by("decode"), by("concurrency")
    return DemoFigures(
        sanity_text=sanity[0].output_text.strip() if sanity else "",
        decode_tok_s=summarize(derive.decode_tok_s(r) for r in decode),
        ttft_ms=summarize(derive.ttft_ms(r) for r in decode),
        concurrent_aggregate_tok_s=derive.aggregate_tok_s(conc),
        concurrent_per_request_tok_s=summarize(derive.decode_tok_s(r) for r in conc),
        concurrent_ttft_ms=summarize(derive.ttft_ms(r) for r in conc),
        usage_output_tokens=sum(r.output_tokens or 0 for r in records if r.ok),
        errors=sum(1 for r in records if not r.ok),
    )


@dataclass(frozen=True)
class DemoResult:
    run_id: int
    status: str
    engine: EngineState
    figures: DemoFigures
    metrics_generation_tokens: float | None  # /metrics delta over the measurement
    ready_s: float | None  # None when an engine was already up
    elapsed_s: float
    kept_up: bool
    decode_ceiling_tok_s: float | None = None  # the physics ceiling for the decode figure (CPU only)


def cpu_decode_ceiling(settings: Settings, model: str, records: list[RequestRecord]) -> float | None:
    """The single-stream roofline for the decode measurement, on a machine without a GPU.

    vLLM's CPU backend runs the model on one core; the `cpu` catalog entry
    measures one core's streaming bandwidth, so the two compare like for like.
    """
    if provenance.hardware().get("gpus"):
        return None
    decode = [r for r in records if r.scenario == "decode" and r.ok]
    if not decode:
        return None
    context = sum((r.prompt_tokens or 0) + (r.output_tokens or 0) // 2 for r in decode) // len(decode)
    return served_model_ceiling_tok_s(get_hardware("cpu", cpu_cache=settings.cache_dir), model, context)


METHOD = {
    "sanity": "one greedy chat completion; must return non-empty content",
    "warmup": "one 16-token request, stored but excluded from statistics",
    "decode": f"{DECODE_REPEATS} sequential streams of {DECODE_TOKENS} tokens (ignore_eos), greedy; "
    "decode tok/s = (usage tokens - first content chunk tokens) / (last - first content chunk)",
    "ttft": "request sent -> first chunk carrying content (not the role chunk)",
    "concurrency": f"{CONCURRENCY} streams of {DECODE_TOKENS} tokens started together; aggregate = all "
    "tokens / (first sent -> last done); per-request = each stream's decode tok/s",
    "token_check": "sum of usage.completion_tokens vs the vllm:generation_tokens_total delta",
}


async def _measure(
    url: str, model: str, emit: Callable[[RequestRecord], None], step: Callable[[str], None]
) -> None:
    story = ({"role": "user", "content": STORY_PROMPT},)
    async with StreamClient(url) as client:
        step("chat completion (sanity)")
        r = await client.generate(
            GenRequest(model, ({"role": "user", "content": SANITY_PROMPT},), max_tokens=64),
            scenario="sanity",
        )
        emit(r)
        if not r.ok or not r.output_text.strip():
            raise EndpointError(
                f"the chat completion returned no content ({r.error_kind}: {r.error_message})"
            )
        emit(await client.generate(GenRequest(model, story, max_tokens=16), scenario="warmup"))
        for i in range(DECODE_REPEATS):
            step(f"single-stream decode {i + 1}/{DECODE_REPEATS} ({DECODE_TOKENS} tokens)")
            emit(
                await client.generate(
                    GenRequest(model, story, max_tokens=DECODE_TOKENS, ignore_eos=True),
                    scenario="decode",
                    label=str(DECODE_TOKENS),
                    seq=i,
                )
            )
        step(f"{CONCURRENCY} concurrent streams ({DECODE_TOKENS} tokens each)")
        req = GenRequest(model, story, max_tokens=DECODE_TOKENS, ignore_eos=True)

        async def one(i: int) -> None:
            emit(await client.generate(req, scenario="concurrency", label=str(CONCURRENCY), seq=i))

        await asyncio.gather(*(one(i) for i in range(CONCURRENCY)))


def run_demo(
    settings: Settings,
    sink: RunSink,
    *,
    profile: str = profiles.DEFAULT_PROFILE,
    keep: bool = False,
    port: int | None = None,
    step: Callable[[str], None] = lambda _: None,
    on_progress: supervisor.ProgressFn | None = None,
) -> DemoResult:
    t0 = time.monotonic()
    prof = profiles.load_profile(settings, profile)
    existing = read_state(settings)
    started_here = False
    ready_s: float | None = None
    if existing is not None and liveness(existing).alive:
        if existing.profile != profile:
            raise EngineError(f"engine {existing.profile!r} is running; `dyno down` it, or demo that profile")
        state = existing
        step(f"using the running engine {profile!r} at {state.url}")
    else:
        if port is not None:  # before the model conversion, which can take a while
            supervisor.check_port_free("127.0.0.1", port)
        step("preparing the model (converted once, then cached)")
        recipe = profiles.to_recipe(settings, prof)
        step("starting vLLM")
        t_start = time.monotonic()
        state = supervisor.start(settings, profile, recipe, port=port, on_progress=on_progress)
        ready_s = time.monotonic() - t_start
        started_here = True

    records: list[RequestRecord] = []
    run_id = -1
    status = "failed"
    gen_delta: float | None = None
    try:
        with Endpoint(state.url) as ep:
            server_info = {"version": ep.version(), "models": [m.__dict__ for m in ep.models()]}
            before = ep.metrics_text()
        run_id = sink.start_run(
            kind="demo",
            endpoint=state.url,
            engine="vllm",
            engine_version=state.engine_version,
            model=state.served_name,
            launch_config={
                "profile": state.profile,
                "recipe": state.recipe,
                "command": state.command,
                "log_facts": state.facts,
                "ready_s": ready_s,
            },
            hardware=provenance.hardware() | {"software": provenance.software()},
            method=METHOD,
            server_info=server_info,
        )

        def emit(r: RequestRecord) -> None:
            records.append(r)
            sink.add_request(run_id, r)

        asyncio.run(_measure(state.url, state.served_name, emit, step))
        with Endpoint(state.url) as ep:
            after = ep.metrics_text()
        if before is not None and after is not None:
            gen_delta = counter_delta(parse(before), parse(after), "vllm:generation_tokens_total")
        status = "complete"
    except BaseException:
        status = "partial" if records else "failed"
        raise
    finally:
        if run_id >= 0:
            sink.finish_run(run_id, status)
        if started_here and not keep:
            step("stopping the engine")
            supervisor.stop(settings)
    return DemoResult(
        run_id,
        status,
        state,
        demo_figures(records),
        gen_delta,
        ready_s,
        time.monotonic() - t0,
        kept_up=not (started_here and not keep),
        decode_ceiling_tok_s=cpu_decode_ceiling(settings, state.served_name, records),
    )
