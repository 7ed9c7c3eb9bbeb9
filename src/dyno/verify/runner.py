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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dyno import provenance, signals
from dyno.bench.tally import Tally, run_status
from dyno.client import ClientConfig, RequestRecord, StreamClient, loop
from dyno.engine import supervisor
from dyno.engine.target import (
    Target,
    TargetSpec,
    check_box,
    locate,
    open_target,
    probe,
    read_api_key,
)
from dyno.errors import UsageError
from dyno.settings import Settings
from dyno.store.sink import RunSink
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
class VerifyResult:
    run_id: int
    status: str  # complete | partial | failed
    sides: tuple[Target, ...]  # in the order they were measured
    tally: Tally = field(default_factory=Tally)  # both sides' requests


def side_info(t: Target) -> dict[str, Any]:
    """One side's provenance as the verify report reads it (run.server_info[side])."""
    return {
        "ref": t.spec.ref,
        "url": t.url,
        "profile": t.profile,
        "model": t.model,
        "engine": t.engine,
        "engine_version": t.engine_version,
        "models": [m.__dict__ for m in t.served],
        "started_by_verify": t.launched_here,
        "key_properties": t.key_properties(),
    }


async def send_side(
    target: Target,
    plans: list[SuitePlan],
    concurrency: int,
    emit: Callable[[RequestRecord], None],
    advance: Callable[[int], None],
) -> None:
    model, label = target.model or "", target.spec.role
    gate = asyncio.Semaphore(concurrency)
    async with StreamClient(target.url, api_key=target.api_key, config=ClientConfig()) as client:

        async def one(plan: SuitePlan, i: int) -> None:
            async with gate:
                rec = await client.generate(plan.request(model, i))
            emit(rec.tagged(plan.scenario, label, i))
            advance(1)

        # Suite by suite, so a partial run has whole suites rather than a scatter of items.
        for plan in plans:
            await asyncio.gather(*(one(plan, i) for i in range(len(plan.items))))


def run_verify(
    settings: Settings,
    sink: RunSink,
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
    plans = plan_suites(opts.suites, limit=opts.limit, lossless_max_tokens=opts.max_tokens)
    specs = [
        TargetSpec(
            candidate,
            candidate_model,
            opts.api_key_env,
            role="candidate",
            purpose="verify",
            model_flag="--model",
        ),
        TargetSpec(
            baseline,
            baseline_model,
            opts.api_key_env,
            role="baseline",
            purpose="verify",
            model_flag="--baseline-model",
        ),
    ]
    located = [locate(settings, s) for s in specs]
    check_box(settings, located)
    # Unreachable URLs and unknown models fail here, before anything is stored.
    for loc in located:
        if loc.url is not None:
            probe(settings, loc.spec, loc.url, read_api_key(opts.api_key_env), state=loc.state)
    # Sides that need no start first, candidate first: a box holds one model at a time.
    order = sorted(located, key=lambda x: (x.needs_start, SIDES.index(x.spec.role)))

    run_id = sink.start_run(
        kind="verify",
        prov=provenance.RunProvenance(hardware=provenance.machine()),
        method=METHOD
        | {
            "suites": [p.name for p in plans],
            "limit": opts.limit,
            "concurrency": opts.concurrency,
            "api_key_env": opts.api_key_env,
            "sides": {s.role: s.ref for s in specs},
        },
    )
    scenario_ids = {p.name: sink.start_scenario(run_id, p.scenario, p.config()) for p in plans}
    records: list[RequestRecord] = []
    tally = Tally()

    def emit(r: RequestRecord) -> None:
        records.append(r)
        sink.add_request(run_id, r)
        tally.add(r)

    if progress:
        progress.begin(2 * sum(len(p.items) for p in plans))
    done: dict[str, Target] = {}
    status, note = "partial", "interrupted"
    try:
        for loc in order:
            with open_target(
                settings, loc.spec, located=loc, step=step, on_engine_progress=on_engine_progress
            ) as t:
                # Provenance goes on the run before the side's first request, so a run cut short has it.
                done[t.spec.role] = t
                _record_sides(sink, run_id, done)
                _measure(t, plans, opts, emit, progress, step)
        status = run_status(True, tally)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP (dyno.signals)
        note = signals.describe(e)
        raise
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
        note = "; ".join(x for x in (note if status != "complete" else "", tally.summary()) if x)
        sink.finish_run(run_id, status, note=note or None)
    return VerifyResult(run_id, status, tuple(done.values()), tally)


def _measure(
    target: Target,
    plans: list[SuitePlan],
    opts: VerifyOptions,
    emit: Callable[[RequestRecord], None],
    progress: VerifyProgress | None,
    step: Callable[[str], None],
) -> None:
    label = target.spec.role
    where = target.url if target.profile is None else f"{target.url} (profile {target.profile})"
    step(f"{label}: {where}, model {target.model}")
    if progress:
        progress.side(label, where)
    advance = progress.advance if progress else (lambda _n: None)
    loop.run(send_side(target, plans, opts.concurrency, emit, advance))


def _record_sides(sink: RunSink, run_id: int, done: dict[str, Target]) -> None:
    """Both sides' provenance on the run row; the run's own columns describe the candidate."""
    fields: dict[str, Any] = {
        "server_info": {k: side_info(t) for k, t in done.items()},
        "launch_config": {k: t.launch_config() for k, t in done.items()},
    }
    cand = done.get("candidate")
    if cand is not None:
        fields |= {
            "endpoint": cand.url,
            "model": cand.model,
            "engine_version": cand.engine_version,
            "engine": cand.engine,
            "key_properties": cand.key_properties(),
        }
    sink.update_run(run_id, **fields)


def _failure_notes(records: list[RequestRecord]) -> list[str]:
    notes = []
    for label in SIDES:
        failed = [r for r in records if r.label == label and not r.ok]
        if failed:
            kinds = ", ".join(sorted({r.error_kind or "?" for r in failed}))
            notes.append(f"{len(failed)} {label} requests failed ({kinds}); each counts against the {label}")
    return notes
