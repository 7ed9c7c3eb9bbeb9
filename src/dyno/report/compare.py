"""`dyno compare RUN RUN ...`: the field's matrix, one row per config, each difference with its uncertainty.

Two runs are compared figure by figure (same scenario, same setting, same
metric), each against the baseline (the first run, or --baseline). Every
ratio carries a 95% interval computed from the raw samples behind the two
figures (bench/stats.ratio_ci: the interval that covers at that n), and says
"≈ noise" when the interval holds 1, or why it has no interval (too few samples).

What makes two results comparable is written on every run (its key
properties). Three of them are what a comparison is for (engine, quant,
launch flags) and name each row. The rest must match; where they do not
(another model or revision, another engine version on the same engine,
other hardware, another workload for a scenario) the row or the cell says
so, and no ratio is given for a cell whose workload differs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from dyno.bench.figures import figure
from dyno.bench.scenario import ResultRow
from dyno.bench.slo import Difference, difference
from dyno.bench.stats import RatioCI, ratio_ci
from dyno.bench.summary import RunSummary, summarize_run
from dyno.capacity.result import summarize_capacity
from dyno.errors import UsageError
from dyno.recipe import engine_name
from dyno.report.render import fmt_value
from dyno.store import RunRow, Store
from dyno.store.records import MUST_MATCH
from dyno.verify.evaluate import LosslessResult
from dyno.verify.summary import build_verify_report

# The figures a comparison shows, each with the statistic it compares.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("decode_tok_s", "mean"),
    ("per_request_tok_s", "mean"),
    ("aggregate_tok_s", "mean"),
    ("output_tok_s", "mean"),
    ("throughput_req_s", "mean"),
    ("ttft_ms", "median"),
    ("ttft_ms", "p99"),
    ("prefill_tok_s", "mean"),
    ("acceptance_rate", "mean"),
    ("mean_acceptance_length", "mean"),
    ("slo_attainment", "mean"),
    ("goodput_req_s", "mean"),
)
BENCH_KINDS = ("bench", "demo")


@dataclass(frozen=True)
class Column:
    scenario: str
    label: str
    metric: str
    stat: str  # mean | median | p99

    @property
    def title(self) -> str:
        f = figure(self.metric)
        stat = "" if self.stat == "mean" else f" {'p50' if self.stat == 'median' else self.stat}"
        unit = f" ({f.unit})" if f.unit and not f.title.endswith(f.unit) else ""
        return f"{self.scenario} {self.label} · {f.title}{stat}{unit}"

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.label}/{self.metric}/{self.stat}"


CAPACITY_COLUMN = Column("capacity", "within SLO", "capacity_concurrency", "mean")


@dataclass(frozen=True)
class Cell:
    value: float | None
    unit: str
    n: int
    ratio: RatioCI | None = None  # vs the baseline's cell
    point_ratio: float | None = None  # when no interval can be had (a single sample)
    ceiling_pct: float | None = None
    note: str = ""
    interval: tuple[float, float] | None = None  # a proportion's own interval (SLO attainment)
    difference: Difference | None = None  # a proportion vs the baseline's: a difference, not a ratio

    def text(self, baseline: bool) -> str:
        if self.interval is not None and self.value is not None:
            out = f"{self.value:.0%} [{self.interval[0]:.0%}, {self.interval[1]:.0%}] of {self.n}"
            if self.difference is not None and not baseline:
                out += " " + self.difference.text()
            return out + (f" † {self.note}" if self.note else "")
        out = fmt_value(self.value, self.unit)
        if self.ceiling_pct is not None:
            out += f" ({self.ceiling_pct:.0%} of ceiling)"
        if not baseline:
            if self.ratio is not None:
                out += " " + self.ratio.text()
            elif self.point_ratio is not None:
                out += f" ×{self.point_ratio:.2f} (no samples stored behind it: no interval)"
        if self.note:
            out += f" † {self.note}"
        return out


@dataclass(frozen=True)
class CapacityCell(Cell):
    """A capacity run's answer: the level, the attainment at it and just above, and the difference."""

    resolved: bool = True
    detail: str = ""  # "100% [95%, 100%] of 77 at 5; 40% [12%, 77%] of 5 at 6"
    vs_baseline: int | None = None  # streams more (or fewer) than the baseline's capacity

    def text(self, baseline: bool) -> str:
        out = f"{self.value:.0f} {self.unit}" if self.value is not None else "-"
        if not self.resolved:
            out += " (unresolved)"
        if self.detail:
            out += f" ({self.detail})"
        if not baseline and self.vs_baseline is not None:
            out += f" {self.vs_baseline:+d} vs baseline"
        return out + (f" † {self.note}" if self.note else "")


@dataclass(frozen=True)
class Config:
    run: RunRow
    name: str
    mismatches: list[str]  # key properties that should match the baseline's and do not
    lossless: str | None = None  # a verify run's verdict for this config, when one was given


@dataclass(frozen=True)
class Comparison:
    baseline_id: int
    configs: list[Config]
    columns: list[Column]
    cells: dict[tuple[int, str], Cell]  # (run id, column key) -> cell
    notes: list[str] = field(default_factory=list)
    reports: dict[int, RunSummary] = field(default_factory=dict, repr=False)

    def cell(self, run_id: int, col: Column) -> Cell | None:
        return self.cells.get((run_id, col.key))


def _value(row: ResultRow, stat: str) -> float | None:
    if stat == "mean":
        return row.mean
    return row.median if stat == "median" else row.p99


def config_name(run: RunRow, baseline: RunRow) -> str:
    """'run 7 · vLLM 0.32.0 · bf16 · +--speculative-config {...}': what sets this config apart.

    Flags are told as a difference from the baseline's on the same engine; another engine's
    flags mean other things, so they are shown whole."""
    key = run.keyprops
    parts = [
        f"run {run.id}",
        f"{engine_name(run.engine) if run.engine else '?'} {run.engine_version or ''}".strip(),
    ]
    if key.quant:
        parts.append(key.quant)
    mine, theirs = run.flags, baseline.flags
    if run.id != baseline.id and mine != theirs and run.engine == baseline.engine:
        added = [f for f in mine if f not in theirs]
        removed = [f for f in theirs if f not in mine]
        if added:
            parts.append("+" + shlex.join(added))
        if removed:
            parts.append("-" + shlex.join(removed))
    elif mine and (run.id == baseline.id or run.engine != baseline.engine):
        parts.append(shlex.join(mine))
    return " · ".join(parts)


def mismatches(run: RunRow, baseline: RunRow) -> list[str]:
    a, b = run.keyprops, baseline.keyprops
    out = []
    for k in MUST_MATCH:
        mine, theirs = getattr(a, k), getattr(b, k)
        if mine is not None and theirs is not None and mine != theirs:
            out.append(f"{k}: {mine!r} vs baseline {theirs!r}")
    if a.engine == b.engine and a.engine_version != b.engine_version:
        out.append(f"engine version: {a.engine_version} vs baseline {b.engine_version}")
    return out


def _scenario_configs(rep: RunSummary) -> dict[str, dict[str, Any]]:
    return {s.name: {k: v for k, v in s.config.items() if k != "tokenizer"} for s in rep.scenarios}


def _lossless(store: Store, verify_ids: list[int], run: RunRow) -> str | None:
    """The verdict of a verify run whose candidate is this config (same key properties)."""
    key = run.keyprops
    for vid in verify_ids:
        v = store.get_run(vid)
        cand = v.keyprops if v else None
        same = cand is not None and all(
            getattr(cand, k) == getattr(key, k)
            for k in ("model", "model_revision", "engine_version", "flags")
        )
        if v is None or not same:
            continue
        rep = build_verify_report(store, vid)
        lossless = next((s.result for s in rep.suites if s.name == "lossless"), None)
        verdict = "pass" if rep.verdict.passed else "FAIL"
        if isinstance(lossless, LosslessResult):
            return f"{verdict} ({lossless.matches}/{lossless.n} identical, run {vid})"
        return f"{verdict} (run {vid})"
    return None


def _capacity_cells(store: Store, runs: list[RunRow], base: RunRow) -> dict[tuple[int, str], Cell]:
    """Each capacity run's answer, against the baseline search's when both searched the same way."""
    found = {r.id: summarize_capacity(store, r.id) for r in runs}

    def same_search(r: RunRow) -> str:
        mine, theirs = (r.method or {}), (base.method or {})
        if mine.get("workload") != theirs.get("workload"):
            return "workload differs from the baseline's: not compared"
        a, b = mine.get("capacity") or {}, theirs.get("capacity") or {}
        if (a.get("slo"), a.get("attainment")) != (b.get("slo"), b.get("attainment")):
            return "another SLO than the baseline's: not compared"
        return ""

    out: dict[tuple[int, str], Cell] = {}
    b = found[base.id]
    for r in runs:
        rep = found[r.id]
        at, above = rep.probe(rep.answer.capacity), rep.probe(rep.answer.above)
        detail = "; ".join(
            f"{p.attainment.text()} at {p.level}"
            for p in (at, above)
            if p is not None and p.attainment.counted
        )
        note = same_search(r) if r.id != base.id else ""
        both = rep.answer.resolved and b.answer.resolved and not note
        out[(r.id, CAPACITY_COLUMN.key)] = CapacityCell(
            float(rep.answer.capacity),
            rep.unit,
            at.attainment.counted if at else 0,
            note=note,
            resolved=rep.answer.resolved,
            detail=detail,
            vs_baseline=rep.answer.capacity - b.answer.capacity if both else None,
        )
    return out


def build_comparison(store: Store, run_ids: list[int], baseline: int | None = None) -> Comparison:
    runs = []
    for rid in run_ids:
        run = store.get_run(rid)
        if run is None:
            raise UsageError(f"no run {rid} in {store.path} (see `dyno runs`)")
        if run.kind == "tune":  # a tune is the set of its trials' runs
            for t in store.trials(rid):
                for sub in (t.bench_run_id, t.verify_run_id):
                    if sub is not None and (r := store.get_run(sub)) is not None:
                        runs.append(r)
            continue
        runs.append(run)
    benches = [r for r in runs if r.kind in BENCH_KINDS]
    searches = [r for r in runs if r.kind == "capacity"]
    verify_ids = [r.id for r in runs if r.kind == "verify"]
    others = [f"run {r.id} ({r.kind})" for r in runs if r.kind not in (*BENCH_KINDS, "verify", "capacity")]
    if others:
        raise UsageError(f"compare takes bench, demo, capacity and verify runs; not {', '.join(others)}")
    if len(benches) < 2 and len(searches) < 2:
        raise UsageError(
            "compare needs at least two bench (or demo) runs, or two capacity runs "
            "(verify runs add their verdicts)"
        )
    configs_runs = benches if len(benches) >= 2 else []
    configs_runs += searches if len(searches) >= 2 else []
    base = (
        next((r for r in configs_runs if r.id == baseline), None) if baseline is not None else configs_runs[0]
    )
    if base is None:
        raise UsageError(f"--baseline {baseline} is not one of the runs compared")
    benches = [r for r in benches if r in configs_runs]
    searches = [r for r in searches if r in configs_runs]
    reports = {r.id: summarize_run(store, r.id) for r in benches}
    bench_base = base if base.kind in BENCH_KINDS else (benches[0] if benches else None)
    scen_cfg = {rid: _scenario_configs(rep) for rid, rep in reports.items()}
    slos = {rid: {s.name: s.data.facts.get("slo") for s in rep.scenarios} for rid, rep in reports.items()}
    wanted = {m for m, _ in HEADLINE}
    columns: list[Column] = []
    rows: dict[tuple[int, str], ResultRow] = {}
    for rid, rep in reports.items():
        for s in rep.scenarios:
            for row in s.rows:
                if row.metric not in wanted:
                    continue
                for metric, stat in HEADLINE:
                    if metric != row.metric:
                        continue
                    col = Column(row.scenario, row.label, metric, stat)
                    if col not in columns:
                        columns.append(col)
                    rows[(rid, col.key)] = row
    cells: dict[tuple[int, str], Cell] = {}
    for run in benches:
        for col in columns:
            found = rows.get((run.id, col.key))
            if found is None:
                continue
            row = found
            brow = rows.get((bench_base.id, col.key)) if bench_base is not None else None
            note = ""
            ci: RatioCI | None = None
            point: float | None = None
            diff: Difference | None = None
            if bench_base is not None and run.id != bench_base.id and brow is not None:
                if scen_cfg[run.id].get(col.scenario) != scen_cfg[bench_base.id].get(col.scenario):
                    note = "workload differs from the baseline's: not compared"
                elif row.interval is not None:  # an attainment: judged by the same SLO, as a difference
                    if slos[run.id].get(col.scenario) != slos[bench_base.id].get(col.scenario):
                        note = "another SLO than the baseline's: not compared"
                    elif row.mean is not None and brow.mean is not None:
                        diff = difference(round(row.mean * row.n), row.n, round(brow.mean * brow.n), brow.n)
                else:
                    ci = (
                        ratio_ci(row.samples, brow.samples, col.stat)
                        if row.samples and brow.samples
                        else None
                    )
                    bv, v = _value(brow, col.stat), _value(row, col.stat)
                    if ci is None and bv and v is not None:
                        point = v / bv
            v = _value(row, col.stat)
            pct = (
                v / row.ceiling_tok_s if row.ceiling_tok_s and v is not None and col.stat == "mean" else None
            )
            cells[(run.id, col.key)] = Cell(v, row.unit, row.n, ci, point, pct, note, row.interval, diff)
    if searches:
        columns.append(CAPACITY_COLUMN)
        cells |= _capacity_cells(store, searches, base if base.kind == "capacity" else searches[0])
    configs = [
        Config(
            r,
            config_name(r, base),
            mismatches(r, base) if r.id != base.id else [],
            _lossless(store, verify_ids, r),
        )
        for r in (*benches, *searches)
    ]
    notes = []
    if not columns:
        notes.append("the runs share no headline figure (decode, TTFT, throughput, acceptance)")
    return Comparison(base.id, configs, columns, cells, notes, reports)
