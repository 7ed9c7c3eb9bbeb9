"""`dyno tune`: the closed loop that finds the best config without changing the answers.

Per candidate, in the order the search picks them:
1. lint it (the rules, and vLLM's own argument parser); refused -> recorded, not run;
2. confirm the previous engine is gone, then launch it through the Target with
   the allocation held fixed (the KV cache size pinned), so only the swept knob differs;
3. check that what was asked is what runs: the engine's logged speculative config,
   and speculation counters that move when speculation is on;
4. measure the objective `repeats` times (a bench run of the `objective` scenario);
5. gate it on the answers: the baseline candidate's stored greedy answers vs its own
   (>= 80% identical, math not significantly worse); answers changed -> rejected.
Every trial is stored as it finishes; a failed start is recorded with the cause
from the log and the loop goes on; Ctrl-C or SIGTERM stops the engine and leaves
the tune `partial`, and `dyno tune --resume RUN` carries on without redoing a trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from dyno import provenance
from dyno.bench.precision import DEFAULT_MAX_REPEATS
from dyno.bench.runner import bench_target
from dyno.bench.scenarios.objective import Objective, repeat_values, spec_totals
from dyno.bench.slo import SLO
from dyno.bench.summary import summarize_run
from dyno.capacity.result import summarize_capacity
from dyno.capacity.runner import CapacityOptions, capacity_target
from dyno.client import RequestRecord
from dyno.engine import profiles, supervisor
from dyno.engine.logscan import speculation
from dyno.engine.state import group_members, liveness, read_state
from dyno.engine.target import Target, TargetSpec, check_box, locate, open_target
from dyno.errors import EngineError, EngineStartError, UsageError
from dyno.lint import build_context, lint
from dyno.metrics import counter_delta, parse
from dyno.metrics.vllm import GENERATION_TOKENS
from dyno.recipe import engine_name
from dyno.recipe.validate import check_with_vllm
from dyno.settings import Settings
from dyno.store import RunOutcome, Store, TrialRow, record_run
from dyno.store.records import SideRecord
from dyno.tune.gate import answers, as_side, gate_plans, gate_test, judge_and_store
from dyno.tune.physics import SpecObservation, draft_fraction
from dyno.tune.result import TuneSummary, summarize_tune
from dyno.tune.score import score
from dyno.tune.search import Planner, Result, default_budget
from dyno.tune.space import (
    SPEC_KEYS,
    Candidate,
    K,
    Knob,
    baseline_of,
    flags_for,
    grid,
    parse_sweep,
    without_spec,
)
from dyno.tune.winner import Kept, keep_winner
from dyno.verify.runner import side_info
from dyno.workloads.shapes import Lengths, parse_lengths

Step = Callable[[str], None]
SLO_METRICS = {"ttft_p50_ms": ("ttft_ms", "median"), "ttft_p99_ms": ("ttft_ms", "p99")}


@dataclass(frozen=True)
class TuneOptions:
    profile: str
    sweeps: tuple[str, ...]  # as given: NAME=VALUES
    concurrency: int = 1  # 1: decode_tok_s@1; N: aggregate_tok_s@N
    contents: tuple[str, ...] = ("code", "prose", "json")
    repeats: int = 3
    budget: int | None = None
    exhaustive: bool = False
    seed: int = 0
    slo: str | None = None  # e.g. ttft_p99_ms<=500
    gate_limit: int = 12
    gate_max_tokens: int = 48
    max_tokens: int = 128
    prompts_per_type: int = 1
    name: str | None = None  # the profile the winner is written as
    # --objective capacity: each candidate's score is the most streams it carries within these
    # per-request objectives (a capacity search per candidate), the rest of the loop unchanged.
    capacity_slo: tuple[str, ...] = ()
    attainment: float = 0.95
    max_concurrency: int = 16
    # --objective capacity --turns T: the levels are users in conversations of T turns (a length
    # spec, as typed), agents with capacity_tool_result_tokens (bench/scenarios/agent.py).
    capacity_turns: str | None = None
    capacity_think_time_s: float = 0.0
    capacity_tool_result_tokens: str | None = None
    # --precision: each candidate repeats its objective until the 95% interval is this close
    # (relative), up to max_repeats; None: `repeats` exactly.
    precision: float | None = None
    max_repeats: int = DEFAULT_MAX_REPEATS

    @property
    def knobs(self) -> list[Knob]:
        return [parse_sweep(s) for s in self.sweeps]

    @property
    def objective(self) -> str:
        if self.capacity_slo:
            return "capacity"
        return "decode_tok_s@1" if self.concurrency == 1 else f"aggregate_tok_s@{self.concurrency}"

    def capacity_options(self) -> CapacityOptions:
        slo = SLO.parse(self.capacity_slo)
        if slo is None:
            raise UsageError("--objective capacity needs --slo objectives, e.g. --slo ttft_ms<=500")
        out = Lengths("fixed", self.max_tokens)
        results = self.capacity_tool_result_tokens
        return CapacityOptions(
            slo,
            self.attainment,
            self.max_concurrency,
            output_tokens=out,
            seed=self.seed,
            turns=parse_lengths(self.capacity_turns, "--turns") if self.capacity_turns else None,
            think_time_s=self.capacity_think_time_s,
            tool_result_tokens=parse_lengths(results, "--tool-result-tokens") if results else None,
        )

    def slo_limit(self) -> tuple[str, str, float] | None:
        if not self.slo or self.capacity_slo:
            return None
        name, sep, limit = self.slo.partition("<=")
        if not sep or name.strip() not in SLO_METRICS:
            raise UsageError(f"--slo takes METRIC<=LIMIT with METRIC one of {', '.join(SLO_METRICS)}")
        metric, stat = SLO_METRICS[name.strip()]
        try:
            return metric, stat, float(limit)
        except ValueError:
            raise UsageError(f"--slo {self.slo!r}: the limit must be a number") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TuneOptions:
        d = dict(d)
        d["sweeps"] = tuple(d["sweeps"])
        d["contents"] = tuple(d["contents"])
        d["capacity_slo"] = tuple(d.get("capacity_slo") or ())
        return cls(**d)


@dataclass(frozen=True)
class TuneResult(RunOutcome):
    """A tune's outcome: its result as it stood when the loop ended, and the winner kept as a profile."""

    summary: TuneSummary | None = None
    kept: Kept | None = None


def _candidate(row: TrialRow) -> Candidate:
    return Candidate(tuple((str(k), v) for k, v in row.candidate))


def _result(row: TrialRow) -> Result:
    s = score(row.samples) if row.samples else None
    spec = SpecObservation(**row.spec) if row.spec else None
    return Result(s, spec, usable=row.status == "measured")


def _base_flags(settings: Settings, opts: TuneOptions, pinned_kv: int | None) -> tuple[str, ...]:
    prof = profiles.load_profile(settings, opts.profile)
    flags = prof.flags
    if any(k.name in SPEC_KEYS for k in opts.knobs):
        flags = without_spec(flags)
    if pinned_kv is not None and "--kv-cache-memory-bytes" not in flags:
        flags = (*flags, "--kv-cache-memory-bytes", str(pinned_kv))
    return flags


def _lint(
    settings: Settings, opts: TuneOptions, flags: tuple[str, ...], extra: tuple[str, ...]
) -> str | None:
    """Why lint refuses the candidate (its errors, and vLLM's parser's); None when it may run."""
    prof = replace(profiles.load_profile(settings, opts.profile), flags=flags)
    recipe = profiles.to_recipe(settings, prof, extra_flags=extra)
    check = check_with_vllm(recipe)
    findings = lint(build_context(recipe, engine_errors=check.errors))
    errors = [f"{f.id}: {f.message}" for f in findings if f.severity == "error"]
    return "; ".join(errors) or None


def _confirm_gone(settings: Settings) -> None:
    """The previous candidate's engine, every process of it, is gone (on a unified-memory box a
    half-dead engine holds the memory the next one needs)."""
    state = read_state(settings)
    if state is not None and (liveness(state).alive or group_members(state.pgid)):
        raise EngineError(f"engine {state.profile!r} (pid {state.pid}) is still up; the tune stops here")


def _applied(c: Candidate, target: Target) -> str | None:
    """What runs is what was asked: the engine's own logged speculative config."""
    facts = target.state.facts if target.state else {}
    spec = speculation(facts)
    if c.speculative and (spec is None or spec[1] != c.k):
        logged = facts.get("speculative_config") or "no speculative config"
        return f"asked for {K}={c.k}, the engine logged {logged}"
    if c.k == 0 and spec is not None:
        return f"asked for speculation off, the engine logged {facts.get('speculative_config')}"
    return None


def _measure_capacity(
    store: Store, target: Target, opts: TuneOptions
) -> tuple[int, list[float], dict[str, Any]]:
    """A capacity search of the candidate: (capacity run id, [its capacity], what it found)."""
    out = capacity_target(store, target, opts.capacity_options())
    rep = summarize_capacity(store, out.run_id)
    found = {"capacity": rep.answer.capacity, "resolved": rep.answer.resolved, "limit": rep.limit.kind}
    return out.run_id, [float(rep.answer.capacity)], {"all": found}


def _measure(
    store: Store, target: Target, opts: TuneOptions, c: Candidate
) -> tuple[int, list[float], SpecObservation | None, dict[str, Any]]:
    """One objective run: (bench run id, objective per repeat, acceptance, per-content figures)."""
    if opts.capacity_slo:
        run_id, samples, found = _measure_capacity(store, target, opts)
        return run_id, samples, None, found
    scenario = Objective(
        opts.concurrency,
        opts.contents,
        opts.repeats,
        opts.prompts_per_type,
        opts.max_tokens,
        precision=opts.precision,
        max_repeats=opts.max_repeats,
    )
    res = bench_target(store, target, [scenario], suite="tune", kind="bench")
    rep = summarize_run(store, res.run_id)
    reqs = store.requests(res.run_id, scenario.name)
    samples = repeat_values(reqs, opts.concurrency, len(opts.contents) * opts.prompts_per_type)
    scrapes = {
        s.label: parse(s.text, s.t_ns) for s in store.scrapes(res.run_id) if s.scenario == scenario.name
    }
    per_content: dict[str, Any] = {}
    for s in rep.scenarios:
        for row in s.rows:
            if row.label in opts.contents:
                per_content.setdefault(row.label, {})[row.metric] = row.mean
    spec = None
    d = spec_totals(scrapes)
    if d is not None and d.active and c.k:
        generated = sum(
            counter_delta(scrapes[b], scrapes[a], GENERATION_TOKENS) or 0.0
            for b in scrapes
            if b.startswith("before:") and (a := "after:" + b.removeprefix("before:")) in scrapes
        )
        med = score(samples).median if samples else 0.0
        spec = SpecObservation(
            c.k, med, d.per_position_rate, draft_fraction(d.drafts, generated, d.accepted_tokens)
        )
        per_content["all"] = {"acceptance_rate": d.acceptance_rate, "per_position": list(d.per_position_rate)}
    return res.run_id, samples, spec, per_content


def _slo_miss(store: Store, run_id: int, opts: TuneOptions) -> str | None:
    limit = opts.slo_limit()
    if limit is None:
        return None
    metric, stat, value = limit
    rows = [r for s in summarize_run(store, run_id).scenarios for r in s.rows if r.metric == metric]
    worst = max((getattr(r, stat) or 0.0 for r in rows), default=None)
    return None if worst is None or worst <= value else f"{opts.slo} missed: {worst:.0f}"


@dataclass
class _Loop:
    settings: Settings
    store: Store
    opts: TuneOptions
    run_id: int
    step: Step
    on_engine_progress: supervisor.ProgressFn | None
    baseline: Candidate
    baseline_answers: list[RequestRecord]
    baseline_side: SideRecord | None
    pinned_kv: int | None = None

    def trial(self, c: Candidate, by_search: bool, predicted: float | None) -> TrialRow:
        base = TrialRow([list(v) for v in c.values], "measured", by_search, predicted=predicted)
        flags = _base_flags(self.settings, self.opts, self.pinned_kv)
        extra = flags_for(c, profiles.load_profile(self.settings, self.opts.profile).flags)
        refused = _lint(self.settings, self.opts, flags, extra)
        if refused:
            return replace(base, status="refused", note=f"lint: {refused}")
        _confirm_gone(self.settings)
        spec = TargetSpec(
            self.opts.profile, base_flags=flags, extra_flags=extra, role="candidate", purpose="tune"
        )
        self.step(f"candidate {c.label()}: starting")
        try:
            with open_target(
                self.settings, spec, step=self.step, on_engine_progress=self.on_engine_progress
            ) as t:
                row = self._run(c, t, base)
        except EngineStartError as e:
            return replace(base, status="failed", note=f"the engine did not start: {e.cause}")
        _confirm_gone(self.settings)
        return row

    def _run(self, c: Candidate, t: Target, row: TrialRow) -> TrialRow:
        if self.pinned_kv is None and t.state is not None:
            gib = t.state.facts.get("kv_cache_memory_gib")
            if isinstance(gib, int | float):  # hold the allocation the first candidate got
                self.pinned_kv = int(gib * 2**30)
        if (why := _applied(c, t)) is not None:
            return replace(row, status="not-applied", note=why)
        self.step(f"candidate {c.label()}: measuring {self.opts.objective} x{self.opts.repeats}")
        bench_id, samples, spec, per_content = _measure(self.store, t, self.opts, c)
        if c.speculative and spec is None and not self.opts.capacity_slo:
            return replace(
                row, status="not-applied", bench_run_id=bench_id, note="speculation counters did not move"
            )
        note = ""
        s = score(samples) if samples else None
        if s is not None and s.noisy:
            self.step(f"candidate {c.label()}: noisy (MAD {s.mad:.2f} of {s.median:.2f}), measuring again")
            bench_id, samples, spec, per_content = _measure(self.store, t, self.opts, c)
            s = score(samples) if samples else None
            note = "re-measured: the first repeats were noisy"
        status = "noisy" if s is None or s.noisy else "measured"
        if (miss := _slo_miss(self.store, bench_id, self.opts)) is not None:
            status, note = "slo-miss", miss
        row = replace(
            row,
            status=status,
            bench_run_id=bench_id,
            samples=samples,
            median=s.median if s else None,
            mad=s.mad if s else None,
            score=s.value if s else None,
            spec=asdict(spec) if spec else None,
            per_content=per_content,
            note=note or None,
        )
        self.step(f"candidate {c.label()}: checking its answers against the baseline's")
        plans = gate_plans(self.opts.gate_limit, self.opts.gate_max_tokens)
        mine = answers(t, plans)
        if c == self.baseline:
            self.baseline_answers, self.baseline_side = as_side(mine, "baseline"), side_info(t)
        side = self.baseline_side
        if not self.baseline_answers or side is None:
            note = "not gated: the baseline candidate left no answers to check against"
            return replace(row, status="rejected", note=note)
        test = gate_test(self.baseline, c)
        vid, verdict = judge_and_store(
            self.store, plans, t, mine, side, self.baseline_answers, self.run_id, test
        )
        row = replace(row, verify_run_id=vid)
        if not verdict.passed:
            return replace(row, status="rejected", note="answers changed: " + "; ".join(verdict.reasons))
        return row


def replay(planner: Planner, prior: list[TrialRow]) -> dict[Candidate, Result]:
    """What a resumed tune already knows: each stored trial's result, and which the search chose,
    so the planner goes on from where it stopped instead of re-running a trial."""
    done: dict[Candidate, Result] = {}
    for t in prior:
        had = _candidate(t)
        done[had] = _result(t)
        if t.by_search:
            planner.chosen_by_search.append(had)
    return done


def run_tune(
    settings: Settings,
    store: Store,
    opts: TuneOptions | None = None,
    *,
    resume: int | None = None,
    step: Step = lambda _m: None,
    on_engine_progress: supervisor.ProgressFn | None = None,
) -> TuneResult:
    prior: list[TrialRow] = []
    resumed_from = None
    prov = method = None
    if resume is not None:
        stopped = store.get_run(resume)
        if stopped is None or stopped.kind != "tune":
            raise UsageError(f"run {resume} is not a tune (see `dyno runs --kind tune`)")
        opts = TuneOptions.from_dict((stopped.method or {})["options"])
        prior = store.trials(resume)
        resumed_from = stopped.note or stopped.status
    else:
        if opts is None:
            raise UsageError("a tune needs a profile and at least one --sweep")
        check_box(settings, [locate(settings, TargetSpec(opts.profile))])
        engine = profiles.load_profile(settings, opts.profile).engine
        if engine != "vllm":
            # the sweep renders vLLM flags and --speculative-config keys; llama-server's differ
            raise UsageError(
                f"dyno tune sweeps vLLM's flags, and profile {opts.profile!r} runs {engine_name(engine)}; "
                "compare its configs with `dyno bench` runs and `dyno compare` instead"
            )
        prov = provenance.RunProvenance(hardware=provenance.machine(), model=opts.profile)
        method = {"options": opts.to_dict(), "knobs": [[k.name, list(k.values)] for k in opts.knobs]}
    knobs = opts.knobs
    cands = grid(knobs)
    has_k = any(k.name == K for k in knobs)
    varying = sum(1 for k in knobs if len(k.values) > 1)
    budget = opts.budget or default_budget(len(cands), has_k, varying)
    baseline = baseline_of(cands)
    planner = Planner(cands, knobs, min(budget, len(cands)), opts.seed, opts.exhaustive, baseline=baseline)
    with record_run(store, "tune", prov, method, resume=resume) as run:
        loop = _Loop(settings, store, opts, run.id, step, on_engine_progress, baseline, [], None)
        done = replay(planner, prior)
        for t in prior:
            if _candidate(t) == baseline and t.verify_run_id is not None:
                loop.baseline_answers = [r for r in store.requests(t.verify_run_id) if r.label == "baseline"]
                gate = store.get_run(t.verify_run_id)
                loop.baseline_side = gate.side("baseline") if gate else None
        while (c := planner.next(done)) is not None:
            by_search = c in planner.chosen_by_search
            row = loop.trial(c, by_search, planner.predicted(c, done))
            store.add_trial(run.id, row)
            done[c] = _result(row)
        if resumed_from:
            run.note(f"resumed after it was stopped ({resumed_from})")
        summary = summarize_tune(store, run.id)
        kept = keep_winner(settings, store, summary, opts.name)
        if summary.winner is None:
            run.fail("no winner: no candidate was measured and kept its answers")
    return run.outcome.with_details(TuneResult, summary=summary, kept=kept)
