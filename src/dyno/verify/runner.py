"""`dyno verify`: the same greedy requests to a candidate and a baseline endpoint, stored raw.

Each side is a URL or a profile name. A profile that is the running engine is
used where it is; any other profile is started, measured and stopped before
the other side starts (a box holds one model at a time), so the two sides
run one after the other: sides that need no start first, candidate first.

One run row (kind `verify`) holds both sides' provenance under `candidate`
and `baseline` keys; one scenario row per suite (`verify:lossless`, ...)
holds the items and, once judged, the facts; one request row per answer
(label = side, seq = item index).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from dyno import provenance
from dyno.bench.demo import RunSink
from dyno.client import ClientConfig, Endpoint, RequestRecord, StreamClient
from dyno.engine import profiles, supervisor
from dyno.engine.state import EngineState, liveness, read_state
from dyno.errors import EndpointError, UsageError
from dyno.settings import Settings
from dyno.verify.evaluate import MATCH_RATE_BAR, SIDES, facts, judge
from dyno.verify.stats import ALPHA
from dyno.verify.suites import SUITE_NAMES, SuitePlan, plan_suites

DEFAULT_CONCURRENCY = 4

METHOD = {
    "decoding": "greedy (temperature 0, fixed seed), same prompts, max_tokens and order on both sides",
    "lossless": f"prompt-level exact match of the output text; pass at >= {MATCH_RATE_BAR:.0%} of prompts",
    "divergence": "first differing character, and the 0-based index of the whitespace-separated word "
    "holding it",
    "math": "last 'Answer: <number>' (else the last number), compared as an exact decimal with the "
    "expected answer",
    "mcnemar": f"exact two-sided binomial test on the discordant pairs b, c; significant at p < {ALPHA}",
    "tools": "first parsed tool call: right function, arguments a JSON object, valid against the "
    "tool's schema",
    "failed_requests": "count against their side: a mismatch, a wrong answer, an invalid call",
}


class VerifySink(RunSink, Protocol):
    def update_run(self, run_id: int, **fields: Any) -> None: ...
    def start_scenario(self, run_id: int, name: str, config: dict[str, Any]) -> int: ...
    def finish_scenario(
        self, scenario_id: int, status: str, notes: list[str], facts: dict[str, Any]
    ) -> None: ...


class VerifyProgress(Protocol):
    def begin(self, total_requests: int) -> None: ...
    def side(self, label: str, what: str) -> None: ...
    def advance(self, n: int) -> None: ...


@dataclass(frozen=True)
class VerifyOptions:
    suites: tuple[str, ...] = SUITE_NAMES
    limit: int | None = None  # first N items of each suite
    max_tokens: int = 64  # lossless only; math and tools have their own budgets
    concurrency: int = DEFAULT_CONCURRENCY
    api_key_env: str | None = None  # one key for both sides


@dataclass(frozen=True)
class Side:
    label: str  # candidate | baseline
    ref: str  # as the user gave it: a URL or a profile name
    model: str | None = None  # served model name; None = the only one
    url: str | None = None  # known once resolved (or started)
    profile: str | None = None
    state: EngineState | None = None  # when dyno launched the engine behind the URL
    needs_start: bool = False
    info: dict[str, Any] = field(default_factory=dict)  # provenance, once probed


@dataclass(frozen=True)
class VerifyResult:
    run_id: int
    status: str  # complete | partial
    sides: tuple[Side, ...]


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def resolve_side(settings: Settings, label: str, ref: str, model: str | None) -> Side:
    state = read_state(settings)
    alive = state if state is not None and liveness(state).alive else None
    if is_url(ref):
        url = ref.rstrip("/").removesuffix("/v1")
        same = alive if alive is not None and alive.url == url else None
        return Side(label, ref, model, url, same.profile if same else None, same)
    profiles.load_profile(settings, ref)  # an unknown name is a UsageError naming the known ones
    if alive is not None and alive.profile == ref:
        return Side(label, ref, model, alive.url, ref, alive)
    return Side(label, ref, model, None, ref, None, needs_start=True)


def _check_box(settings: Settings, sides: list[Side]) -> None:
    """A profile that must be started needs the box to itself; never stop an engine we did not start."""
    state = read_state(settings)
    starting = [s for s in sides if s.needs_start]
    if starting and state is not None and liveness(state).alive:
        names = " and ".join(repr(s.ref) for s in starting)
        raise UsageError(
            f"verify would start profile {names}, but engine {state.profile!r} is running at {state.url} "
            "and a box serves one model at a time; `dyno down` first (verify then starts and stops each "
            "profile in turn), or pass the running engine's URL"
        )


def _probe(side: Side, api_key: str | None) -> Side:
    """Pick the served model and record the side's provenance; EndpointError when unreachable."""
    assert side.url is not None
    with Endpoint(side.url, api_key=api_key) as ep:
        try:
            served = ep.models()
        except EndpointError as e:
            raise EndpointError(f"cannot verify the {side.label} side ({side.ref}): {e}") from e
        version = ep.version()
    ids = [m.id for m in served]
    model = side.model
    flag = "--model" if side.label == "candidate" else "--baseline-model"
    if model is None:
        if len(ids) != 1:
            raise UsageError(f"{side.url} serves {ids or 'no models'}; pick one with {flag}")
        model = ids[0]
    elif model not in ids:
        raise UsageError(f"{side.url} does not serve {model!r}; it serves {ids}")
    st = side.state
    info = {
        "ref": side.ref,
        "url": side.url,
        "profile": side.profile,
        "model": model,
        "engine_version": version,
        "models": [m.__dict__ for m in served],
        "started_by_verify": side.needs_start,
        "launch": None
        if st is None
        else {"profile": st.profile, "recipe": st.recipe, "command": st.command, "log_facts": st.facts},
    }
    return replace(side, model=model, info=info)


async def _send_side(
    side: Side,
    plans: list[SuitePlan],
    api_key: str | None,
    concurrency: int,
    emit: Callable[[RequestRecord], None],
    advance: Callable[[int], None],
) -> None:
    assert side.url is not None and side.model is not None
    model = side.model
    gate = asyncio.Semaphore(concurrency)
    async with StreamClient(side.url, api_key=api_key, config=ClientConfig()) as client:

        async def one(plan: SuitePlan, i: int) -> None:
            async with gate:
                rec = await client.generate(
                    plan.request(model, i), scenario=plan.scenario, label=side.label, seq=i
                )
            emit(rec)
            advance(1)

        # Suite by suite, so a partial run has whole suites rather than a scatter of items.
        for plan in plans:
            await asyncio.gather(*(one(plan, i) for i in range(len(plan.items))))


def run_verify(
    settings: Settings,
    sink: VerifySink,
    candidate: str,
    baseline: str,
    *,
    candidate_model: str | None = None,
    baseline_model: str | None = None,
    options: VerifyOptions | None = None,
    progress: VerifyProgress | None = None,
    step: Callable[[str], None] = lambda _m: None,
    on_engine_progress: supervisor.ProgressFn | None = None,
) -> VerifyResult:
    opts = options or VerifyOptions()
    if opts.concurrency < 1:
        raise UsageError("--concurrency must be >= 1")
    api_key = None
    if opts.api_key_env:
        api_key = os.environ.get(opts.api_key_env)
        if not api_key:
            raise UsageError(f"--api-key-env {opts.api_key_env}: that environment variable is not set")
    plans = plan_suites(opts.suites, limit=opts.limit, lossless_max_tokens=opts.max_tokens)
    sides = [
        resolve_side(settings, "candidate", candidate, candidate_model),
        resolve_side(settings, "baseline", baseline, baseline_model),
    ]
    _check_box(settings, sides)
    # Unreachable URLs fail here, before anything is stored.
    sides = [s if s.needs_start else _probe(s, api_key) for s in sides]
    order = sorted(sides, key=lambda s: (s.needs_start, SIDES.index(s.label)))

    run_id = sink.start_run(
        kind="verify",
        endpoint=None,
        hardware=provenance.hardware() | {"software": provenance.software()},
        method=METHOD
        | {
            "suites": [p.name for p in plans],
            "limit": opts.limit,
            "concurrency": opts.concurrency,
            "api_key_env": opts.api_key_env,
            "sides": {s.label: s.ref for s in sides},
        },
    )
    scenario_ids = {p.name: sink.start_scenario(run_id, p.scenario, p.config()) for p in plans}
    records: list[RequestRecord] = []

    def emit(r: RequestRecord) -> None:
        records.append(r)
        sink.add_request(run_id, r)

    if progress:
        progress.begin(2 * sum(len(p.items) for p in plans))
    done: dict[str, Side] = {}
    status, note = "partial", "interrupted"

    def ready(side: Side) -> None:
        # Provenance goes on the run before the side's first request, so a run cut short has it.
        done[side.label] = side
        _record_sides(sink, run_id, done)

    try:
        for side in order:
            _run_side(settings, side, plans, opts, api_key, emit, ready, progress, step, on_engine_progress)
        status = "complete"
    except Exception as e:  # an engine that would not start, a model it does not serve, ...
        note = f"stopped: {e}"[:500]
        raise
    finally:
        for p in plans:
            mine = [r for r in records if r.scenario == p.scenario]
            missing = 2 * len(p.items) - len({(r.label, r.seq) for r in mine})
            notes = _failure_notes(mine) + ([f"{missing} answers were never received"] if missing else [])
            sink.finish_scenario(
                scenario_ids[p.name],
                "complete" if not missing else "partial",
                notes,
                facts(judge(p.name, p.config(), mine)),
            )
        sink.finish_run(run_id, status, note=None if status == "complete" else note)
    return VerifyResult(run_id, status, tuple(done[s.label] for s in sides))


def _run_side(
    settings: Settings,
    side: Side,
    plans: list[SuitePlan],
    opts: VerifyOptions,
    api_key: str | None,
    emit: Callable[[RequestRecord], None],
    ready: Callable[[Side], None],
    progress: VerifyProgress | None,
    step: Callable[[str], None],
    on_engine_progress: supervisor.ProgressFn | None,
) -> None:
    if not side.needs_start:
        ready(side)
        _measure(side, plans, opts, api_key, emit, progress, step)
        return
    assert side.profile is not None
    step(f"{side.label}: starting profile {side.profile!r}")
    prof = profiles.load_profile(settings, side.profile)
    recipe = profiles.to_recipe(settings, prof)
    state = supervisor.start(settings, side.profile, recipe, on_progress=on_engine_progress)
    try:
        probed = _probe(replace(side, url=state.url, state=state), api_key)
        ready(probed)
        _measure(probed, plans, opts, api_key, emit, progress, step)
    finally:
        step(f"{side.label}: stopping profile {side.profile!r}")
        supervisor.stop(settings)


def _measure(
    side: Side,
    plans: list[SuitePlan],
    opts: VerifyOptions,
    api_key: str | None,
    emit: Callable[[RequestRecord], None],
    progress: VerifyProgress | None,
    step: Callable[[str], None],
) -> None:
    where = side.url if side.profile is None else f"{side.url} (profile {side.profile})"
    step(f"{side.label}: {where}, model {side.model}")
    if progress:
        progress.side(side.label, where or side.ref)
    advance = progress.advance if progress else (lambda _n: None)
    asyncio.run(_send_side(side, plans, api_key, opts.concurrency, emit, advance))


def _record_sides(sink: VerifySink, run_id: int, done: dict[str, Side]) -> None:
    """Both sides' provenance on the run row; the run's own columns describe the candidate."""
    fields: dict[str, Any] = {
        "server_info": {k: {x: y for x, y in s.info.items() if x != "launch"} for k, s in done.items()},
        "launch_config": {k: s.info.get("launch") for k, s in done.items()},
    }
    cand = done.get("candidate")
    if cand is not None:
        version = cand.info.get("engine_version")
        fields |= {"endpoint": cand.url, "model": cand.model, "engine_version": version}
        fields["engine"] = "vllm" if version else None
    sink.update_run(run_id, **fields)


def _failure_notes(records: list[RequestRecord]) -> list[str]:
    notes = []
    for label in SIDES:
        failed = [r for r in records if r.label == label and not r.ok]
        if failed:
            kinds = ", ".join(sorted({r.error_kind or "?" for r in failed}))
            notes.append(f"{len(failed)} {label} requests failed ({kinds}); each counts against the {label}")
    return notes
