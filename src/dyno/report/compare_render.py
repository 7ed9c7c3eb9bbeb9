"""A comparison as markdown (the field's tables), terminal text, CSV and JSON (HTML: report/html.py)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dyno.report.compare import Cell, Comparison
from dyno.report.render import md_table

HOW = (
    "×ratio vs the baseline [95% interval from the raw samples: Welch's t on the log ratio, or the bootstrap "
    "for a median or p99 of many samples]; ≈ noise: the interval holds 1; "
    "SLO attainment: a difference in points [Newcombe's interval from the two Wilson intervals]; "
    "† the cell or row is not like for like"
)


def _cell(c: Comparison, run_id: int, key: str) -> str:
    cell = c.cells.get((run_id, key))
    return cell.text(run_id == c.baseline_id) if cell else "-"


def to_markdown(c: Comparison) -> str:
    header = ["config", *(col.title for col in c.columns), "lossless"]
    rows = []
    for cfg in c.configs:
        name = cfg.name + (" (baseline)" if cfg.run.id == c.baseline_id else "")
        rows.append([name, *(_cell(c, cfg.run.id, col.key) for col in c.columns), cfg.lossless or "-"])
    parts = [f"## dyno compare · baseline run {c.baseline_id}", "", md_table(header, rows), "", HOW]
    for cfg in c.configs:
        for m in cfg.mismatches:
            parts.append(f"- † run {cfg.run.id}: {m}")
    parts += [f"- {n}" for n in c.notes]
    return "\n".join(parts) + "\n"


def print_comparison(c: Comparison, console: Console) -> None:
    """Turned on its side for a terminal: one row per figure, one column per config."""
    console.print(Text.assemble(("dyno compare", "bold"), f" · baseline run {c.baseline_id}"))
    for cfg in c.configs:
        mark = " (baseline)" if cfg.run.id == c.baseline_id else ""
        console.print(Text(f"  {cfg.name}{mark}"))
        for m in cfg.mismatches:
            console.print(Text(f"    † {m}", style="yellow"))
    t = Table("figure", *(f"run {cfg.run.id}" for cfg in c.configs))
    for col in c.columns:
        t.add_row(col.title, *(_cell(c, cfg.run.id, col.key) for cfg in c.configs))
    if any(cfg.lossless for cfg in c.configs):
        t.add_row("lossless (verify)", *(cfg.lossless or "-" for cfg in c.configs))
    console.print(t)
    console.print(Text(HOW, style="dim"))
    for n in c.notes:
        console.print(Text(f"note: {n}", style="yellow"))


def _cell_dict(cell: Cell) -> dict[str, Any]:
    r = cell.ratio
    return {
        "value": cell.value,
        "unit": cell.unit,
        "n": cell.n,
        "ratio": r.ratio if r else cell.point_ratio,
        "ci_low": r.low if r else None,
        "ci_high": r.high if r else None,
        "within_noise": r.within_noise if r and r.has_interval else None,
        "interval": (r.method or r.reason) if r else None,
        "ceiling_fraction": cell.ceiling_pct,
        "note": cell.note or None,
        "value_interval": list(cell.interval) if cell.interval else None,
        "difference": None
        if cell.difference is None
        else {"diff": cell.difference.diff, "low": cell.difference.low, "high": cell.difference.high},
    }


_KEY_FIELDS = ("engine", "engine_version", "model", "model_revision", "quant", "hardware")


def rows(c: Comparison) -> list[dict[str, Any]]:
    out = []
    for cfg in c.configs:
        key = cfg.run.keyprops
        for col in c.columns:
            cell = c.cells.get((cfg.run.id, col.key))
            if cell is None:
                continue
            out.append(
                {
                    "run_id": cfg.run.id,
                    "baseline": cfg.run.id == c.baseline_id,
                    "config": cfg.name,
                    "scenario": col.scenario,
                    "label": col.label,
                    "metric": col.metric,
                    "stat": col.stat,
                    **_cell_dict(cell),
                    **{k: getattr(key, k) for k in _KEY_FIELDS},
                    "lossless": cfg.lossless,
                    "mismatches": "; ".join(cfg.mismatches) or None,
                }
            )
    return out


def to_csv(c: Comparison) -> str:
    data = rows(c)
    if not data:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(data[0]))
    w.writeheader()
    w.writerows(data)
    return buf.getvalue()


def to_json(c: Comparison) -> str:
    doc = {
        "baseline_run": c.baseline_id,
        "how": HOW,
        "configs": [
            {
                "run_id": cfg.run.id,
                "name": cfg.name,
                "kind": cfg.run.kind,
                "key_properties": cfg.run.key_properties,
                "mismatches": cfg.mismatches,
                "lossless": cfg.lossless,
            }
            for cfg in c.configs
        ],
        "columns": [
            {
                "key": col.key,
                "title": col.title,
                "scenario": col.scenario,
                "label": col.label,
                "metric": col.metric,
                "stat": col.stat,
            }
            for col in c.columns
        ],
        "cells": rows(c),
        "notes": c.notes,
    }
    return json.dumps(doc, indent=2, default=str)


RENDERERS = {"md": to_markdown, "csv": to_csv, "json": to_json}
