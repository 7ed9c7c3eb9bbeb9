"""A tune, re-read from the store: the field's sweep table, the winner with its margin, and its plot.

candidate | tok/s per content type | speedup vs baseline | acceptance | per-position
acceptance | lossless | status, plus the physics prediction next to each
measurement and, with --exhaustive, how close the search's own choice came to
the best of all candidates.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dyno.bench.stats import RatioCI, ratio_ci
from dyno.errors import UsageError
from dyno.report.render import fit_width, md_table
from dyno.report.verify import build_verify_report
from dyno.store import RunRow, Store, TrialRow
from dyno.tune.score import Score, score, winner
from dyno.tune.space import Candidate
from dyno.verify.evaluate import LosslessResult


@dataclass(frozen=True)
class TrialView:
    candidate: Candidate
    row: TrialRow
    lossless: str  # "40/40" or "-"

    @property
    def score(self) -> Score | None:
        return score(self.row.samples) if self.row.samples else None


@dataclass(frozen=True)
class TuneReport:
    run: RunRow
    options: dict[str, Any]
    trials: list[TrialView]
    baseline: TrialView | None
    winner: TrialView | None
    tied: list[TrialView]
    runner_up: TrialView | None
    vs_baseline: RatioCI | None
    vs_runner_up: RatioCI | None
    exhaustive_fraction: float | None  # the search's pick's score / the best of all (with --exhaustive)
    search_trials: int

    @property
    def contents(self) -> list[str]:
        return list(self.options.get("contents") or [])


def _lossless(store: Store, run_id: int | None) -> str:
    if run_id is None:
        return "-"
    rep = build_verify_report(store, run_id)
    res = next((s.result for s in rep.suites if s.name == "lossless"), None)
    if isinstance(res, LosslessResult):
        return f"{res.matches}/{res.n}" + ("" if rep.verdict.passed else " FAIL")
    return "pass" if rep.verdict.passed else "FAIL"


def pick(views: list[TrialView]) -> tuple[TrialView | None, list[TrialView]]:
    scored = [(v, s) for v in views if v.row.status == "measured" and (s := v.score) is not None]
    if not scored:
        return None, []
    return winner(scored, lambda v: v.candidate.simplicity())


def build_tune_report(store: Store, run_id: int) -> TuneReport:
    run = store.get_run(run_id)
    if run is None or run.kind != "tune":
        raise UsageError(f"run {run_id} is not a tune")
    options = (run.method or {}).get("options") or {}
    views = [
        TrialView(Candidate(tuple((str(k), v) for k, v in t.candidate)), t, _lossless(store, t.verify_run_id))
        for t in store.trials(run_id)
    ]
    base = next((v for v in views if v.candidate.k == 0), views[0] if views else None)
    best, tied = pick(views)
    others = [v for v in views if v is not best and v.row.status == "measured" and v.score is not None]
    runner_up = max(others, key=lambda v: v.score.value if v.score else 0.0, default=None)
    vs_base = vs_next = None
    if best is not None and best.row.samples:
        if base is not None and base is not best and base.row.samples:
            vs_base = ratio_ci(best.row.samples, base.row.samples, "median")
        if runner_up is not None and runner_up.row.samples:
            vs_next = ratio_ci(best.row.samples, runner_up.row.samples, "median")
    fraction = None
    searched = [v for v in views if v.row.by_search]
    if options.get("exhaustive") and best is not None and best.score:
        chosen, _ = pick(searched)
        if chosen is not None and chosen.score and best.score.value:
            fraction = chosen.score.value / best.score.value
    return TuneReport(
        run, options, views, base, best, tied, runner_up, vs_base, vs_next, fraction, len(searched)
    )


def _f(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def rows(rep: TuneReport) -> tuple[list[str], list[list[str]]]:
    base_med = rep.baseline.row.median if rep.baseline else None
    header = ["candidate", *(f"{c} tok/s" for c in rep.contents), "objective", "predicted",
              "speedup", "accept", "per position", "lossless", "status"]  # fmt: skip
    out = []
    for v in rep.trials:
        pc = v.row.per_content or {}
        allc = pc.get("all") or {}
        pos = allc.get("per_position") or []
        mark = " ★" if v is rep.winner else (" (baseline)" if v is rep.baseline else "")
        out.append(
            [
                v.candidate.short() + mark,
                *(_f((pc.get(c) or {}).get("decode_tok_s")) for c in rep.contents),
                f"{_f(v.row.median)} ± {_f(v.row.mad)}" if v.row.median is not None else "-",
                _f(v.row.predicted),
                _f(v.row.median / base_med, ".2f") + "x" if v.row.median and base_med else "-",
                _f(allc.get("acceptance_rate"), ".2f"),
                " ".join(f"{p:.2f}" for p in pos) or "-",
                v.lossless,
                v.row.status + (f" ({v.row.note})" if v.row.note and v.row.status != "measured" else ""),
            ]
        )
    return header, out


def summary_lines(rep: TuneReport) -> list[str]:
    o = rep.options
    n = o.get("concurrency", 1)
    objective = "decode_tok_s@1" if n == 1 else f"aggregate_tok_s@{n}"
    lines = [
        f"objective {objective} on {', '.join(rep.contents)}; {o.get('repeats')} repeats; "
        f"score = median - 1.4826 x MAD; the search picked {rep.search_trials} of {len(rep.trials)} trials",
    ]
    w = rep.winner
    if w is None:
        lines.append("no candidate was measured, kept its answers and ranked: no winner")
        return lines
    lines.append(f"winner: {w.candidate.label()} (score {_f(w.score.value if w.score else None)})")
    if rep.tied:
        lines.append("tied within 1% (the simpler wins): " + "; ".join(t.candidate.label() for t in rep.tied))
    if rep.runner_up is not None and rep.runner_up.score and w.score:
        margin = w.score.value / rep.runner_up.score.value - 1 if rep.runner_up.score.value else None
        ci = rep.vs_runner_up
        conf = (
            f", median ratio {ci.ratio:.3f} [95% {ci.low:.3f}-{ci.high:.3f}]"
            + (" (within noise)" if ci.within_noise else "")
            if ci
            else ""
        )
        pct = _f(margin * 100 if margin is not None else None)
        lines.append(f"margin over the runner-up ({rep.runner_up.candidate.label()}): {pct}%{conf}")
    if rep.vs_baseline is not None:
        ci = rep.vs_baseline
        n_rep = len(w.row.samples or [])
        lines.append(
            f"vs the baseline: x{ci.ratio:.2f} [95% {ci.low:.2f}-{ci.high:.2f}] (bootstrap, {n_rep} repeats)"
        )
    if rep.exhaustive_fraction is not None:
        lines.append(f"the search's choice scores {rep.exhaustive_fraction:.1%} of the exhaustive best")
    return lines


def tune_markdown(rep: TuneReport) -> str:
    header, body = rows(rep)
    parts = [
        f"## dyno tune · run {rep.run.id} · {rep.options.get('profile')} · {rep.run.status}",
        "",
        md_table(header, body),
        "",
    ]
    parts += [f"- {x}" for x in summary_lines(rep)]
    if rep.run.note:
        parts.append(f"- {rep.run.note}")
    return "\n".join(parts) + "\n"


def print_tune(rep: TuneReport, console: Console) -> None:
    header, body = fit_width(*rows(rep), console.width)
    t = Table(
        *header,
        title=f"dyno tune · run {rep.run.id} · {rep.options.get('profile')} · {rep.run.status}",
        title_justify="left",
    )
    for r in body:
        t.add_row(*r)
    console.print(t)
    for line in summary_lines(rep):
        console.print(Text(line))
    if rep.run.note:
        console.print(Text(rep.run.note, style="yellow"))


def tune_json(rep: TuneReport) -> str:
    return json.dumps(
        {
            "run_id": rep.run.id,
            "status": rep.run.status,
            "options": rep.options,
            "trials": [
                {
                    "candidate": v.candidate.as_dict,
                    "lossless": v.lossless,
                    **{k: getattr(v.row, k) for k in TrialRow.__dataclass_fields__},
                }
                for v in rep.trials
            ],
            "winner": rep.winner.candidate.as_dict if rep.winner else None,
            "summary": summary_lines(rep),
            "exhaustive_fraction": rep.exhaustive_fraction,
        },
        indent=2,
        default=str,
    )


def tune_csv(rep: TuneReport) -> str:
    header, body = rows(rep)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run_id", *header])
    for r in body:
        w.writerow([rep.run.id, *r])
    return buf.getvalue()


def k_points(rep: TuneReport) -> list[tuple[int, float, float, float, float | None, float | None]]:
    """(k, median, min, max, acceptance, predicted) for every measured candidate that sets k."""
    out = []
    for v in rep.trials:
        k = v.candidate.k
        if k is None or not v.row.samples:
            continue
        acc = ((v.row.per_content or {}).get("all") or {}).get("acceptance_rate")
        s = v.row.samples
        out.append((k, statistics.median(s), min(s), max(s), acc, v.row.predicted))
    return sorted(out)
