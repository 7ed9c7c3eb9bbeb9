"""Markdown, CSV and JSON renderings of a Report (the terminal table uses `pivot` too).

The markdown is shaped like the tables in field reports: a config header
(engine version, model, flags, hardware) and per scenario one row per
setting with `mean ± std` cells and units in the column names.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from dataclasses import asdict
from typing import Any

from dyno.bench.scenario import ResultRow
from dyno.report.build import Report, ScenarioReport

# Cells that field reports show with more than mean ± std.
EXPANDED = {("decode", "decode tok/s"): ("median", "min", "max")}


def fmt_value(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit in ("ms",):
        return f"{v:.0f}" if abs(v) >= 10 else f"{v:.1f}"
    if unit in ("tok/s",):
        return f"{v:.1f}"
    if unit in ("s", "x"):
        return f"{v:.2f}"
    if unit in ("tok", "count"):
        return f"{v:.0f}" if float(v).is_integer() or abs(v) >= 100 else f"{v:.1f}"
    return f"{v:.2f}"


def cell(r: ResultRow) -> str:
    if r.n > 1 and r.std is not None:
        return f"{fmt_value(r.mean, r.unit)} ± {fmt_value(r.std, r.unit)}"
    return fmt_value(r.mean, r.unit)


def pivot(s: ScenarioReport) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per label, one column per metric (with its unit), plus n."""
    labels = list(dict.fromkeys(r.label for r in s.rows))
    metrics = list(dict.fromkeys((r.metric, r.unit) for r in s.rows))
    header = ["setting"]
    for m, unit in metrics:
        header.append(f"{m} ({unit})" if unit else m)
        header += [f"{x}" for x in EXPANDED.get((s.name, m), ())]
    header.append("n")
    table = []
    by = {(r.label, r.metric): r for r in s.rows}
    for label in labels:
        line = [label]
        # n is the sample size of the setting's first figure (requests, or drafts
        # for acceptance), not of per-chunk figures such as ITL.
        first = next((r for r in s.rows if r.label == label), None)
        for m, _unit in metrics:
            r = by.get((label, m))
            line.append(cell(r) if r else "")
            for x in EXPANDED.get((s.name, m), ()):
                line.append(fmt_value(getattr(r, x), r.unit) if r else "")
        line.append(str(first.n) if first else "")
        table.append(line)
    return header, table


def config_summary(report: Report) -> dict[str, str]:
    run = report.run
    hw = run.hardware or {}
    gpus = hw.get("gpus") or []
    where = (
        ", ".join(g.get("name", "?") for g in gpus)
        if gpus
        else f"{hw.get('cpu_model', '?')} ({hw.get('usable_cores') or hw.get('logical_cores')} cores)"
    )
    lc = run.launch_config or {}
    flags = (lc.get("recipe") or {}).get("flags")
    info = run.server_info or {}
    return {
        "engine": f"{run.engine or '?'} {run.engine_version or ''}".strip(),
        "model": run.model or "-",
        "max_model_len": str(info.get("max_model_len") or "-"),
        "launch flags": shlex.join(flags) if flags else ("(not launched by dyno)" if not lc else "-"),
        "hardware": where,
        "dyno": run.dyno_version,
        "endpoint": run.endpoint or "-",
        "started": run.started_at,
    }


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in [header, *rows]]
    out = ["| " + " | ".join(esc[0]) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(out)


def to_markdown(report: Report) -> str:
    run = report.run
    cfg = config_summary(report)
    parts = [
        f"## dyno run {run.id} · {run.kind} · {run.status}",
        "",
        _md_table(list(cfg), [[f"`{v}`" if k == "launch flags" else v for k, v in cfg.items()]]),
    ]
    if run.note:
        parts += ["", f"> {run.note}"]
    for s in report.scenarios:
        parts += ["", f"### {s.name} ({s.status})", ""]
        header, rows = pivot(s)
        if rows:
            parts.append(_md_table(header, rows))
        else:
            parts.append("_no figures_")
        t = s.tokens
        tok = f"output tokens: usage {t.usage_tokens}"
        tok += f" · per-chunk {t.chunk_tokens}" if t.chunk_tokens is not None else " · per-chunk n/a"
        tok += f" · /metrics {t.metrics_tokens:.0f}" if t.metrics_tokens is not None else " · /metrics n/a"
        disagreements = t.disagreements()
        tok += " · **DISAGREE: " + "; ".join(disagreements) + "**" if disagreements else " · agree"
        parts += ["", tok]
        for n in s.notes:
            parts.append(f"- {n}")
    return "\n".join(parts) + "\n"


def _row_dicts(report: Report) -> list[dict[str, Any]]:
    cfg = config_summary(report)
    out = []
    for s in report.scenarios:
        for r in s.rows:
            out.append(
                {
                    "run_id": report.run.id,
                    "engine": cfg["engine"],
                    "model": cfg["model"],
                    "hardware": cfg["hardware"],
                    "launch_flags": cfg["launch flags"],
                    **asdict(r),
                }
            )
    return out


def to_csv(report: Report) -> str:
    rows = _row_dicts(report)
    buf = io.StringIO()
    if not rows:
        return ""
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def to_json(report: Report) -> str:
    run = report.run
    doc = {
        "run": {k: v for k, v in asdict(run).items()},
        "config": config_summary(report),
        "scenarios": [
            {
                "name": s.name,
                "status": s.status,
                "config": s.config,
                "notes": s.notes,
                "tokens": asdict(s.tokens) | {"disagreements": s.tokens.disagreements()},
                "results": [asdict(r) for r in s.rows],
            }
            for s in report.scenarios
        ],
        "warnings": report.warnings,
    }
    return json.dumps(doc, indent=2, default=str)


RENDERERS = {"md": to_markdown, "csv": to_csv, "json": to_json}
