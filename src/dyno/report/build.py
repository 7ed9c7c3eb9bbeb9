"""Build a report of a stored run from its raw rows; every printer renders this one structure."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace

from dyno.bench.crosscheck import TokenCheck, token_check
from dyno.bench.scenario import ResultRow, ScenarioData, ScenarioSummary
from dyno.bench.scenarios import SCENARIOS
from dyno.bench.scenarios.latency import fixed_length_notes, latency_rows
from dyno.bench.scenarios.load import Concurrency
from dyno.client import RequestRecord
from dyno.errors import UsageError
from dyno.metrics import Scrape, parse
from dyno.plan import CeilingInputs, ceiling_tok_s
from dyno.store import RunRow, Store

CLIENT_CPU_WARN = 0.7
LOOP_LAG_WARN_MS = 5.0
DISPATCH_WARN_MS = 10.0


@dataclass(frozen=True)
class ScenarioReport:
    name: str
    status: str
    config: dict[str, object]
    notes: list[str]
    rows: list[ResultRow]
    tokens: TokenCheck
    facts: dict[str, object] = field(default_factory=dict)  # stored outcomes, client health among them


@dataclass(frozen=True)
class Report:
    run: RunRow
    scenarios: list[ScenarioReport]

    @property
    def warnings(self) -> list[str]:
        return [f"{s.name}: {d}" for s in self.scenarios for d in s.tokens.disagreements()]


def _generic(data: ScenarioData) -> ScenarioSummary:
    """For runs stored without scenario rows (the demo): latency figures per label."""
    if data.name == "concurrency":
        return Concurrency.summarize(data)
    rows = []
    for label, reqs in data.by_label().items():
        rows += latency_rows(data.name, label, reqs)
    return ScenarioSummary(rows, fixed_length_notes(data.requests))


# Figures that are single-stream decode speeds, so the single-stream roofline bounds them.
CEILING_METRICS = {"decode_tok_s"}


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
            context = statistics.fmean((q.prompt_tokens or 0) + (q.output_tokens or 0) / 2 for q in reqs)
            r = replace(r, ceiling_tok_s=ceiling_tok_s(inputs, round(context)))
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


def resolve_run_id(store: Store, ref: str) -> int:
    if ref in ("last", "latest"):
        rid = store.latest_run_id()
        if rid is None:
            raise UsageError("no runs stored yet")
        return rid
    try:
        return int(ref)
    except ValueError:
        raise UsageError(f"run must be a number or 'last', not {ref!r}") from None


def build_report(store: Store, run_id: int) -> Report:
    run = store.get_run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in {store.path} (see `dyno runs`)")
    requests = store.requests(run_id)
    scrapes: dict[str, dict[str, Scrape]] = {}
    unreadable: dict[str, str] = {}  # scenario -> why its /metrics could not be read
    for sc in store.scrapes(run_id):
        parsed = parse(sc.text, sc.t_ns)
        scrapes.setdefault(sc.scenario, {})[sc.label] = parsed
        if parsed.error:
            unreadable.setdefault(sc.scenario, parsed.error)
    rows = store.scenarios(run_id)
    if rows:
        entries = [(r.name, r.status, r.config, r.notes, r.facts) for r in rows]
    else:
        names = list(dict.fromkeys(r.scenario for r in requests))
        entries = [(n, run.status, {}, [], {}) for n in names]
    ceiling = CeilingInputs.from_dict(run.ceiling)
    out = []
    for name, status, config, notes, facts in entries:
        data = ScenarioData(
            name,
            status,
            config,
            notes,
            facts,
            [r for r in requests if r.scenario == name],
            scrapes.get(name, {}),
        )
        cls = SCENARIOS.get(name)
        summary = cls.summarize(data) if cls is not None else _generic(data)
        all_notes = list(dict.fromkeys([*notes, *summary.notes]))
        if name in unreadable:
            all_notes.append(
                f"/metrics answered with something that is {unreadable[name]}: stored as it came, "
                "server counters unavailable"
            )
        all_notes += client_health_notes(facts, summary.rows)
        failed = [r for r in data.requests if not r.ok and r.label != "warmup"]
        if failed and not any("requests failed" in n for n in all_notes):
            kinds = sorted({r.error_kind or "?" for r in failed})
            all_notes.append(f"{len(failed)} requests failed ({', '.join(kinds)})")
        rows_ = with_ceilings(summary.rows, data, ceiling)
        out.append(ScenarioReport(name, status, config, all_notes, rows_, token_check(data), dict(facts)))
    return Report(run, out)
