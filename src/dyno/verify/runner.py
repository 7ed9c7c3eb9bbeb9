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
from dataclasses import dataclass
from typing import Protocol

from dyno import provenance
from dyno.client import ClientConfig, RequestRecord, StreamClient, loop
from dyno.engine import supervisor
from dyno.engine.target import Target, TargetSpec, open_target, prepare_targets
from dyno.errors import UsageError
from dyno.settings import Settings
from dyno.store import RunOutcome, RunRecorder, RunSink, record_run
from dyno.store.records import KeyProperties, LaunchRecord, SideRecord
from dyno.verify.evaluate import MATCH_RATE_BAR, SIDES, GateTest, SuiteResult, facts, judge, verdict
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
    test: GateTest = "lossless"  # identical answers (speculation), or not worse (a dtype or quant change)


@dataclass(frozen=True)
class VerifyResult(RunOutcome):
    """A verify run's outcome (exit 1 when the verdict fails), with the sides in the order measured."""

    sides: tuple[Target, ...] = ()


def side_info(t: Target) -> SideRecord:
    """One side's provenance as the verify report reads it back (`RunRow.side`)."""
    launch = t.launch_config()
    return SideRecord(
        ref=t.spec.ref or "?",
        url=t.url,
        profile=t.profile,
        model=t.model,
        engine=t.engine,
        engine_version=t.engine_version,
        models=[m.__dict__ for m in t.served],
        started_by_verify=t.launched_here,
        key_properties=KeyProperties.model_validate(t.key_properties()),
        launch=LaunchRecord.model_validate(launch) if launch else None,
    )


def store_candidate(run: RunRecorder, cand: Target) -> None:
    """The run's own columns describe the candidate: a verify run compares like a bench of it."""
    run.update(
        endpoint=cand.url,
        model=cand.model,
        engine_version=cand.engine_version,
        engine=cand.engine,
        key_properties=cand.key_properties(),
    )


def store_sides(run: RunRecorder, sides: dict[str, SideRecord]) -> None:
    """Both sides' provenance on the run row (server_info and launch_config, per side)."""
    stored = {k: side.stored() for k, side in sides.items()}
    run.update(
        server_info={k: info for k, (info, _) in stored.items()},
        launch_config={k: launch for k, (_, launch) in stored.items()},
    )


async def send_side(
    target: Target,
    plans: list[SuitePlan],
    concurrency: int,
    emit: Callable[[RequestRecord], object],
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
    max_error_rate: float = 0.0,
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
    # Unreachable URLs, unknown models and a busy box fail here, before anything is stored.
    located = prepare_targets(settings, *specs)
    # Sides that need no start first, candidate first: a box holds one model at a time.
    order = sorted(located, key=lambda x: (x.needs_start, SIDES.index(x.spec.role)))

    prov = provenance.RunProvenance(hardware=provenance.machine())
    method = METHOD | {
        "suites": [p.name for p in plans],
        "limit": opts.limit,
        "concurrency": opts.concurrency,
        "api_key_env": opts.api_key_env,
        "sides": {s.role: s.ref for s in specs},
        "test": opts.test,
    }
    if progress:
        progress.begin(2 * sum(len(p.items) for p in plans))
    done: dict[str, Target] = {}
    records: list[RequestRecord] = []
    with record_run(sink, "verify", prov, method, max_error_rate=max_error_rate) as run:
        run.on_record = records.append
        scenario_ids = {p.name: run.start_scenario(p.scenario, p.config()) for p in plans}
        try:
            for loc in order:
                with open_target(
                    settings, loc.spec, located=loc, step=step, on_engine_progress=on_engine_progress
                ) as t:
                    # Provenance goes on the run before the side's first request, so a run cut short has it.
                    done[t.spec.role] = t
                    _record_sides(run, done)
                    _measure(t, plans, opts, run.record, progress, step)
        finally:  # whatever was answered is judged, also when a side would not start or Ctrl-C came
            results = [_judge_suite(run, scenario_ids[p.name], p, records) for p in plans]
        v = verdict(results, opts.test)
        if not v.passed:
            run.fail("; ".join(v.reasons))
    return run.outcome.with_details(VerifyResult, sides=tuple(done.values()))


def _judge_suite(
    run: RunRecorder, scenario_id: int, plan: SuitePlan, records: list[RequestRecord]
) -> SuiteResult:
    mine = [r for r in records if r.scenario == plan.scenario]
    missing = 2 * len(plan.items) - len({(r.label, r.seq) for r in mine})
    notes = _failure_notes(mine) + ([f"{missing} answers were never received"] if missing else [])
    result = judge(plan.name, plan.config(), mine)
    run.finish_scenario(scenario_id, "complete" if not missing else "partial", notes, facts(result))
    return result


def _measure(
    target: Target,
    plans: list[SuitePlan],
    opts: VerifyOptions,
    emit: Callable[[RequestRecord], object],
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


def _record_sides(run: RunRecorder, done: dict[str, Target]) -> None:
    """Both sides' provenance on the run row; the run's own columns describe the candidate."""
    store_sides(run, {k: side_info(t) for k, t in done.items()})
    cand = done.get("candidate")
    if cand is not None:
        store_candidate(run, cand)


def _failure_notes(records: list[RequestRecord]) -> list[str]:
    notes = []
    for label in SIDES:
        failed = [r for r in records if r.label == label and not r.ok]
        if failed:
            kinds = ", ".join(sorted({r.error_kind or "?" for r in failed}))
            notes.append(f"{len(failed)} {label} requests failed ({kinds}); each counts against the {label}")
    return notes
