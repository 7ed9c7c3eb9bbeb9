"""A stored bench or demo run, summarized from its raw rows: the one place a run's figures are derived.

Each scenario's own `summarize` gives its figures; here they get what a run
adds on top: the roofline ceiling next to each decode figure, the notes that
say when dyno itself was the bottleneck (client CPU, event-loop lag, dispatch
delay), failed requests, an unreadable /metrics, and the output-token
cross-check. Every printer in report/ renders this one structure, and the tune
reads its objective from it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Any

from dyno.bench.crosscheck import TokenCheck, token_check
from dyno.bench.figures import thin_p99
from dyno.bench.scenario import ResultRow, ScenarioData, ScenarioSummary
from dyno.bench.scenarios import SCENARIOS
from dyno.bench.scenarios.latency import fixed_length_notes, latency_rows
from dyno.bench.scenarios.load import Concurrency
from dyno.bench.scenarios.objective import Objective, repeat_values, spec_totals
from dyno.bench.stats import P99_MIN_SAMPLES
from dyno.client import RequestRecord
from dyno.metrics import Scrape, counter_delta, parse
from dyno.metrics.energy import EnergyWindow
from dyno.metrics.vllm import GENERATION_TOKENS, SpecDecodeDelta
from dyno.plan import CeilingInputs, ceiling_tok_s
from dyno.plan.roofline import bandwidth_ceiling_tok_s
from dyno.store import RunRow, Store, load_run

CLIENT_CPU_WARN = 0.7
LOOP_LAG_WARN_MS = 5.0
DISPATCH_WARN_MS = 10.0

# Figures that are single-stream decode speeds, so the single-stream roofline bounds them.
CEILING_METRICS = {"decode_tok_s"}


@dataclass(frozen=True)
class ScenarioFigures:
    """One scenario of a run: its figures, notes and token cross-check (and the raw rows they came from)."""

    data: ScenarioData = field(repr=False)  # the stored scenario and its raw rows
    notes: list[str]  # the stored notes, and what deriving the figures found
    rows: list[ResultRow]
    tokens: TokenCheck

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def status(self) -> str:
        return self.data.status

    @property
    def config(self) -> dict[str, Any]:
        return self.data.config

    @property
    def facts(self) -> dict[str, Any]:  # stored outcomes, client health among them
        return self.data.facts


@dataclass(frozen=True)
class RunSummary:
    run: RunRow
    scenarios: list[ScenarioFigures]

    @property
    def warnings(self) -> list[str]:
        return [f"{s.name}: {d}" for s in self.scenarios for d in s.tokens.disagreements()]

    def scenario(self, name: str) -> ScenarioFigures | None:
        return next((s for s in self.scenarios if s.name == name), None)


def _generic(data: ScenarioData) -> ScenarioSummary:
    """For runs stored without scenario rows (the demo): latency figures per label."""
    if data.name == "concurrency":
        return Concurrency.summarize(data)
    rows = []
    for label, reqs in data.by_label().items():
        rows += latency_rows(data.name, label, reqs)
    return ScenarioSummary(rows, fixed_length_notes(data.requests))


def with_ceilings(rows: list[ResultRow], data: ScenarioData, inputs: CeilingInputs | None) -> list[ResultRow]:
    """Each decode figure with the roofline at the context its requests decoded at
    (prompt + half the output: the mean context over a generation)."""
    if inputs is None:
        return rows
    groups = data.by_label()
    out = []
    for r in rows:
        reqs: list[RequestRecord] = groups.get(r.label, [])
        if r.metric in CEILING_METRICS and reqs:
            context = round(
                statistics.fmean((q.prompt_tokens or 0) + (q.output_tokens or 0) / 2 for q in reqs)
            )
            bandwidth = bandwidth_ceiling_tok_s(inputs, context)
            why = inputs.why_below(bandwidth) if bandwidth else None
            r = replace(r, ceiling_tok_s=ceiling_tok_s(inputs, context), ceiling_why=why)
        out.append(r)
    return out


def client_health_notes(facts: dict[str, object], rows: list[ResultRow]) -> list[str]:
    """Say so when dyno itself was the bottleneck, and what to do about it."""
    notes = []
    cpu = facts.get("client_cpu_fraction")
    if isinstance(cpu, float | int) and cpu > CLIENT_CPU_WARN:
        notes.append(
            f"dyno's client used {cpu:.0%} of a CPU core during this scenario: near saturation its "
            "own lag enters TTFT and ITL; run fewer streams per dyno process"
        )
    lag = facts.get("loop_lag_p99_ms")
    if isinstance(lag, float | int) and lag > LOOP_LAG_WARN_MS:
        notes.append(
            f"dyno's event loop ran {lag:.1f} ms late (p99): timestamps taken on it are that late too; "
            "spread the load over processes (--workers 2), or run fewer streams"
        )
    for r in rows:
        if r.metric == "dispatch_delay_ms" and r.p99 is not None and r.p99 > DISPATCH_WARN_MS:
            notes.append(
                f"{r.label}: requests left up to {r.p99:.0f} ms (p99) after they were due; latency from "
                "intended counts it, latency from sent does not. The client could not keep the schedule: "
                "spread the load over processes (--workers 2), or a lower rate"
            )
    return notes


def energy_rows(data: ScenarioData) -> list[ResultRow]:
    """J per output token and tokens per J over the scenario's window, where NVML counted it."""
    e = data.facts.get("energy") or {}
    joules = e.get("joules")
    if not isinstance(joules, int | float):
        return []
    win = EnergyWindow(float(joules), float(e.get("seconds") or 0.0), int(e.get("gpus") or 0))
    tokens = sum(r.output_tokens or 0 for r in data.requests if r.ok and r.label != "warmup")
    per = win.per_token(tokens)
    if per is None:
        return []
    return [
        ResultRow(data.name, "all", "energy_j_per_tok", "J/tok", tokens, per[0]),
        ResultRow(data.name, "all", "tok_per_j", "tok/J", tokens, per[1]),
    ]


def _scenario(data: ScenarioData, unreadable: str | None, ceiling: CeilingInputs | None) -> ScenarioFigures:
    cls = SCENARIOS.get(data.name)
    summary = cls.summarize(data) if cls is not None else _generic(data)
    notes = list(dict.fromkeys([*data.notes, *summary.notes]))
    if unreadable is not None:
        notes.append(
            f"/metrics answered with something that is {unreadable}: stored as it came, "
            "server counters unavailable"
        )
    notes += client_health_notes(data.facts, summary.rows)
    failed = [r for r in data.requests if not r.ok and r.label != "warmup"]
    if failed and not any("requests failed" in n for n in notes):
        kinds = sorted({r.error_kind or "?" for r in failed})
        notes.append(f"{len(failed)} requests failed ({', '.join(kinds)})")
    rows = with_ceilings(summary.rows, data, ceiling) + energy_rows(data)
    if thin := sorted({r.n for r in rows if r.metric.endswith("_p99_ms") and thin_p99(r.n)}):
        notes.append(
            f"a p99 here comes from {', '.join(map(str, thin))} samples, fewer than the "
            f"{P99_MIN_SAMPLES} a 95% interval on a p99 needs: it is near the largest value seen, "
            "not a p99 to quote (more requests make it one)"
        )
    return ScenarioFigures(data, notes, rows, token_check(data))


def summarize_run(store: Store, run_id: int) -> RunSummary:
    """Every scenario of a stored run with its figures, derived from the raw request and scrape rows."""
    run = load_run(store, run_id)
    requests = store.requests(run_id)
    scrapes: dict[str, dict[str, Scrape]] = {}
    unreadable: dict[str, str] = {}  # scenario -> why its /metrics could not be read
    for sc in store.scrapes(run_id):
        parsed = parse(sc.text, sc.t_ns)
        scrapes.setdefault(sc.scenario, {})[sc.label] = parsed
        if parsed.error:
            unreadable.setdefault(sc.scenario, parsed.error)
    stored = store.scenarios(run_id)
    if stored:
        entries = [(r.name, r.status, r.config, r.notes, r.facts) for r in stored]
    else:
        names = list(dict.fromkeys(r.scenario for r in requests))
        entries = [(n, run.status, {}, [], {}) for n in names]
    ceiling = CeilingInputs.from_dict(run.ceiling)
    out = []
    for name, status, config, notes, facts in entries:
        mine = [r for r in requests if r.scenario == name]
        data = ScenarioData(name, status, config, notes, facts, mine, scrapes.get(name, {}))
        out.append(_scenario(data, unreadable.get(name), ceiling))
    return RunSummary(run, out)


@dataclass(frozen=True)
class ObjectiveFigures:
    """What a tune reads of one objective run (the `objective` scenario)."""

    samples: list[float]  # the objective, one value per repeat, in the order measured
    per_content: dict[str, dict[str, float | None]]  # content type -> figure id -> mean
    speculation: SpecDecodeDelta | None  # the speculation counters summed over every repeat
    generated_tokens: float  # generation tokens /metrics counted over the same windows


def objective_figures(summary: RunSummary) -> ObjectiveFigures | None:
    """The objective scenario's repeats, per-content figures and speculation counters; None without one."""
    s = summary.scenario(Objective.name)
    if s is None:
        return None
    data, cfg = s.data, s.config
    samples = repeat_values(
        data.requests,
        int(cfg.get("concurrency", 1)),
        len(cfg.get("contents", [])) * int(cfg.get("prompts_per_type", 1)),
    )
    contents = set(cfg.get("contents", []))
    per_content: dict[str, dict[str, float | None]] = {}
    for row in s.rows:
        if row.label in contents:
            per_content.setdefault(row.label, {})[row.metric] = row.mean
    scrapes = data.scrapes
    generated = sum(
        counter_delta(scrapes[b], scrapes[a], GENERATION_TOKENS) or 0.0
        for b in scrapes
        if b.startswith("before:") and (a := "after:" + b.removeprefix("before:")) in scrapes
    )
    return ObjectiveFigures(samples, per_content, spec_totals(scrapes), generated)
