"""A tune rendered: the field's sweep table, the winner with its margin, and its plot.

candidate | tok/s per content type | speedup vs baseline | acceptance | per-position
acceptance | answers and the test they faced (identical for speculation, not worse for a
dtype or quant change) | status, plus the physics prediction next to each
measurement and, with --exhaustive, how close the search's own choice came to
the best of all candidates.
"""

from __future__ import annotations

import csv
import io
import json
import statistics

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dyno.report.render import fit_width, md_table
from dyno.store import TrialRow
from dyno.tune.result import TuneSummary


def _f(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def rows(rep: TuneSummary) -> tuple[list[str], list[list[str]]]:
    base_med = rep.baseline.row.median if rep.baseline else None
    header = ["candidate", *(f"{c} tok/s" for c in rep.contents), "objective", "predicted",
              "speedup", "accept", "per position", "answers (test)", "status"]  # fmt: skip
    out = []
    for v in rep.trials:
        pc = v.row.per_content or {}
        allc = pc.get("all") or {}
        pos = allc.get("per_position") or []
        # The baseline can win (speculation slower, or refused): it is then both.
        mark = (" ★" if v is rep.winner else "") + (" (baseline)" if v is rep.baseline else "")
        out.append(
            [
                v.candidate.short() + mark,
                *(_f((pc.get(c) or {}).get("decode_tok_s")) for c in rep.contents),
                f"{_f(v.row.median)} ± {_f(v.row.mad)}" if v.row.median is not None else "-",
                _f(v.row.predicted),
                _f(v.row.median / base_med, ".2f") + "x" if v.row.median and base_med else "-",
                _f(allc.get("acceptance_rate"), ".2f"),
                " ".join(f"{p:.2f}" for p in pos) or "-",
                v.lossless + (f" ({v.gate})" if v.gate != "-" else ""),
                v.row.status + (f" ({v.row.note})" if v.row.note and v.row.status != "measured" else ""),
            ]
        )
    return header, out


def summary_lines(rep: TuneSummary) -> list[str]:
    o = rep.options
    n = o.get("concurrency", 1)
    objective = "decode_tok_s@1" if n == 1 else f"aggregate_tok_s@{n}"
    repeats = f"{o.get('repeats')} repeats"
    if o.get("precision"):
        repeats = (
            f"repeats until the objective's 95% interval is ±{float(o['precision']):.0%} "
            f"({o.get('repeats')} to {o.get('max_repeats')}; n per candidate: "
            + ", ".join(f"{v.candidate.short()} {len(v.row.samples or [])}" for v in rep.trials)
            + ")"
        )
    lines = [
        f"objective {objective} on {', '.join(rep.contents)}; {repeats}; "
        f"score = median - 1.4826 x MAD; the search picked {rep.search_trials} of {len(rep.trials)} trials",
    ]
    if o.get("capacity_slo"):
        turns = o.get("capacity_turns")
        unit, of = ("users", f"turns (conversations of {turns} turns)") if turns else ("streams", "requests")
        lines = [
            f"objective capacity: the most {unit} within {' and '.join(o['capacity_slo'])} for "
            f"{float(o.get('attainment') or 0.95):.0%} of {of} (one capacity search per candidate, up "
            f"to {o.get('max_concurrency')} {unit}); the search picked {rep.search_trials} of "
            f"{len(rep.trials)} trials"
        ]
    if any(v.gate == "not worse" for v in rep.trials):
        lines.append(
            "answers: a speculation candidate must be lossless (>= 80% of greedy answers identical); a "
            "dtype, quant or KV-cache dtype change must be not worse (math by exact McNemar; its match "
            "rate is shown, not used to reject)"
        )
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
        conf = f", median ratio {ci.text(3)}" if ci else ""
        pct = _f(margin * 100 if margin is not None else None)
        lines.append(f"margin over the runner-up ({rep.runner_up.candidate.label()}): {pct}%{conf}")
    if rep.vs_baseline is not None:
        ci = rep.vs_baseline
        how = f"95% {ci.method}, " if ci.method else ""
        lines.append(f"vs the baseline: {ci.text()} ({how}{ci.n[0]} and {ci.n[1]} repeats)")
    if rep.exhaustive_fraction is not None:
        lines.append(f"the search's choice scores {rep.exhaustive_fraction:.1%} of the exhaustive best")
    return lines


def tune_markdown(rep: TuneSummary) -> str:
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


def print_tune(rep: TuneSummary, console: Console) -> None:
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


def tune_json(rep: TuneSummary) -> str:
    return json.dumps(
        {
            "run_id": rep.run.id,
            "status": rep.run.status,
            "options": rep.options,
            "trials": [
                {
                    "candidate": v.candidate.as_dict,
                    "lossless": v.lossless,
                    "gate": v.gate,
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


def tune_csv(rep: TuneSummary) -> str:
    header, body = rows(rep)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run_id", *header])
    for r in body:
        w.writerow([rep.run.id, *r])
    return buf.getvalue()


def k_points(rep: TuneSummary) -> list[tuple[int, float, float, float, float | None, float | None]]:
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
