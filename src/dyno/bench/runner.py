"""`dyno bench` and `dyno demo`: run scenarios against a Target, storing each request and scrape at once.

A run that dies (server killed, Ctrl-C, SIGTERM) keeps everything it measured
and is marked `partial`; a scenario that fails is recorded as failed and the
suite goes on.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from dyno.bench.scenario import BenchContext, Scenario, ServerGone
from dyno.bench.workers import WorkerDied
from dyno.client import ClientConfig, StreamClient, loop
from dyno.engine import supervisor
from dyno.engine.target import Target, TargetSpec, open_target
from dyno.metrics.energy import LABEL as ENERGY_LABEL
from dyno.metrics.energy import NOT_MEASURED as ENERGY_NOT_MEASURED
from dyno.metrics.energy import Nvml
from dyno.metrics.energy import window as energy_window
from dyno.metrics.series import sampling
from dyno.settings import Settings
from dyno.store import RunOutcome, RunRecorder, RunSink, record_run
from dyno.workloads.synthetic import pick_tokenizer


class BenchProgress(Protocol):
    def begin(self, total_requests: int) -> None: ...
    def scenario(self, name: str) -> None: ...
    def advance(self, n: int) -> None: ...


@dataclass(frozen=True)
class BenchResult(RunOutcome):
    """A bench run's outcome, with what only a bench has."""

    url: str = ""
    scenario_status: dict[str, str] = field(default_factory=dict)
    kept_up: bool = False  # an engine this run started is still running


DEFINITIONS = {
    "ttft": "request sent -> first chunk carrying content or reasoning (not the role-only chunk)",
    "decode_tok_s": "(usage output tokens - tokens in the first content chunk) "
    "/ (last - first content chunk)",
    "itl": "gap between content chunks / tokens in the later chunk (several under speculation)",
    "tokens": "from the server's usage; per-chunk counts from continuous_usage_stats; "
    "cross-checked against the vllm:generation_tokens_total delta",
    "warmup": "requests labelled warmup are stored but excluded from every figure",
    "ceiling": "single-stream roofline: memory bandwidth / bytes read per token at the measured context",
    "sent": "the request's last byte written to the socket (httpcore trace), not when dyno decided to send",
    "intended": "when the load meant the request to leave: its rate schedule, or the moment its slot freed",
    "dispatch_delay": "intended -> sent: the client's own lateness; latency from intended counts it",
    "server_ttft": "the server's own account (vLLM --enable-per-request-metrics: queue + first token)",
}


def run_bench(
    settings: Settings,
    sink: RunSink,
    scenarios: list[Scenario],
    spec: TargetSpec,
    *,
    suite: str = "custom",
    kind: str = "bench",
    progress: BenchProgress | None = None,
    step: Callable[[str], None] = lambda _m: None,
    on_engine_progress: supervisor.ProgressFn | None = None,
    client_config: ClientConfig | None = None,
    workers: int = 1,
    max_error_rate: float = 0.0,
    every_scenario: bool = False,
) -> BenchResult:
    """Open the target (starting its engine when it must), bench it, stop what was started."""
    with open_target(settings, spec, step=step, on_engine_progress=on_engine_progress) as target:
        result = bench_target(
            sink,
            target,
            scenarios,
            suite=suite,
            kind=kind,
            progress=progress,
            client_config=client_config,
            workers=workers,
            max_error_rate=max_error_rate,
            every_scenario=every_scenario,
        )
    return replace(result, kept_up=target.launched_here and spec.keep)


def bench_target(
    sink: RunSink,
    target: Target,
    scenarios: list[Scenario],
    *,
    suite: str = "custom",
    kind: str = "bench",
    progress: BenchProgress | None = None,
    client_config: ClientConfig | None = None,
    workers: int = 1,
    max_error_rate: float = 0.0,
    every_scenario: bool = False,
) -> BenchResult:
    """Bench a target that is already open: one run row, one scenario row per scenario.

    `every_scenario`: the run fails when a scenario did not complete (the demo: a user's first look).
    """
    if target.model is None:  # open_target is strict; a caller that opened it otherwise must not get here
        raise ValueError(f"no served model picked for {target.url}: {target.problem}")
    workload = {"suite": suite, "scenarios": [{"name": s.name, **s.config()} for s in scenarios]}
    prov = target.provenance()
    prov = replace(prov, key_properties=(prov.key_properties or {}) | {"workload": workload})
    method: dict[str, Any] = {
        **workload,
        "definitions": DEFINITIONS,
        "api_key_env": target.spec.api_key_env,
        "event_loop": loop.loop_name(),
        "workers": workers,
    }
    outcome: dict[str, str] = {}
    nvml = Nvml.open()
    method["energy"] = (
        {"source": "nvml", "gpus": nvml.gpus, "idle_w": round(nvml.idle_w(), 1), "label": ENERGY_LABEL}
        if nvml is not None
        else {"source": None, "note": ENERGY_NOT_MEASURED}
    )
    try:
        with record_run(sink, kind, prov, method, max_error_rate=max_error_rate) as run:
            stopped = loop.run(
                _run_scenarios(
                    run, target, target.model, scenarios, progress, outcome, client_config, workers, nvml
                )
            )
            if stopped:
                run.stop(stopped)
            failed = [name for name, st in outcome.items() if st != "complete"]
            if every_scenario and failed:
                run.fail(f"scenarios did not complete: {', '.join(failed)}")
    finally:
        if nvml is not None:
            nvml.close()
    return run.outcome.with_details(BenchResult, url=target.url, scenario_status=outcome)


def client_health(cpu_fraction: float, lag: loop.LoopLag) -> dict[str, Any]:
    """What the client itself cost during a scenario: its CPU share and its event loop's lag."""
    p50, p99 = lag.quantile_ms(0.5), lag.quantile_ms(0.99)
    return {
        "client_cpu_fraction": round(cpu_fraction, 3),
        "loop_lag_p50_ms": None if p50 is None else round(p50, 3),
        "loop_lag_p99_ms": None if p99 is None else round(p99, 3),
        "event_loop": loop.loop_name(),
    }


@asynccontextmanager
async def bench_context(
    run: RunRecorder,
    target: Target,
    model: str,
    client_config: ClientConfig | None = None,
    workers: int = 1,
    progress: BenchProgress | None = None,
) -> AsyncIterator[BenchContext]:
    """What a scenario (or a capacity probe) runs against: the client, the endpoint and its tokenizer."""
    served = target.served_model
    with target.endpoint() as ep:
        tokenizer = await pick_tokenizer(ep, model, served.root if served else None)
        config = client_config or ClientConfig()
        async with StreamClient(target.url, api_key=target.api_key, config=config) as client:
            yield BenchContext(
                client=client,
                endpoint=ep,
                model=model,
                max_model_len=target.max_model_len,
                tokenizer=tokenizer,
                run=run,
                run_salt=f"{run.id}{secrets.token_hex(3)}",
                advance=progress.advance if progress else (lambda _n: None),
                workers=workers,
            )


async def _run_scenarios(
    run: RunRecorder,
    target: Target,
    model: str,
    scenarios: list[Scenario],
    progress: BenchProgress | None,
    outcome: dict[str, str],
    client_config: ClientConfig | None,
    workers: int,
    nvml: Nvml | None = None,
) -> str:
    """Runs every scenario; returns "" when the suite ran through, else why it stopped."""
    async with bench_context(run, target, model, client_config, workers, progress) as ctx:
        if progress:
            progress.begin(sum(s.planned_requests(ctx.max_model_len) for s in scenarios))
        for i, sc in enumerate(scenarios):
            if progress:
                progress.scenario(sc.name)
            sid = run.start_scenario(sc.name, sc.config() | {"tokenizer": ctx.tokenizer.method})
            ctx.lag = lag = loop.LoopLag()
            lag_task = asyncio.create_task(lag.run())
            try:
                await ctx.scrape(sc.name, "before")
                cpu0, wall0 = time.process_time(), time.monotonic()
                joules0 = nvml.energy_mj() if nvml is not None else None
                async with sampling(ctx.endpoint.metrics_text) as sampler:
                    result = await sc.run(ctx)
                series = sampler.series
                energy = (
                    energy_window(joules0, nvml.energy_mj(), time.monotonic() - wall0)
                    if nvml is not None and joules0 is not None
                    else None
                )
                # How busy dyno itself was: near a full core, its own lag enters TTFT/ITL.
                client_cpu = (time.process_time() - cpu0) / max(time.monotonic() - wall0, 1e-9)
                await ctx.scrape(sc.name, "after")
                facts: dict[str, Any] = result.facts | client_health(client_cpu, lag)
                if len(series):
                    facts["series"] = series.as_json()
                if energy is not None:
                    facts["energy"] = {
                        "joules": energy.joules,  # None: a counter reset during the window
                        "seconds": round(energy.seconds, 3),
                        "gpus": energy.gpus,
                        "label": ENERGY_LABEL,
                    }
                run.finish_scenario(sid, result.status, list(result.notes), facts)
                outcome[sc.name] = result.status
            except (ServerGone, WorkerDied) as e:
                run.finish_scenario(sid, "partial", [str(e)], {})
                outcome[sc.name] = "partial"
                for rest in scenarios[i + 1 :]:
                    outcome[rest.name] = "skipped"
                what = "the server stopped answering" if isinstance(e, ServerGone) else "a worker died"
                return f"{what} during {sc.name}: {e}. {run.stored} finished requests are stored"
            except asyncio.CancelledError:
                run.finish_scenario(sid, "partial", ["interrupted"], {})
                raise
            except Exception as e:  # a broken scenario must not take the suite down with it
                run.finish_scenario(sid, "failed", [f"scenario failed: {type(e).__name__}: {e}"], {})
                outcome[sc.name] = "failed"
            finally:
                lag_task.cancel()
    # No settling delay before the last scrape: vLLM 0.32 records a step's
    # counters in the same event-loop turn that queues its final chunks
    # (AsyncLLM.output_handler), except after a stop-string abort or a batch
    # larger than its output chunk size; a race there shows up as a reported
    # token disagreement, which is the honest outcome.
    return ""
