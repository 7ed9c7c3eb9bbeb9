"""Markdown, CSV and JSON renderings of a RunSummary (the terminal table uses `pivot` too).

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

from dyno.bench.crosscheck import TokenCheck
from dyno.bench.figures import PERCENTILE_METRICS, thin_p99
from dyno.bench.figures import header as figure_header
from dyno.bench.scenario import ResultRow
from dyno.bench.stats import P99_MIN_SAMPLES
from dyno.bench.summary import RunSummary, ScenarioFigures
from dyno.report.headline import headline
from dyno.store import RunRow
from dyno.store.records import KEY_COLUMNS

# Cells that field reports show with more than mean ± std.
EXPANDED = {("decode", "decode_tok_s"): ("median", "min", "max")}


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
    if r.interval is not None and r.mean is not None:  # a proportion: 97% [93%, 99%] of n
        return f"{r.mean:.0%} [{r.interval[0]:.0%}, {r.interval[1]:.0%}] of {r.n}"
    if r.n > 1 and r.std is not None:
        return f"{fmt_value(r.mean, r.unit)} ± {fmt_value(r.std, r.unit)}"
    return fmt_value(r.mean, r.unit)


def ceiling_cell(r: ResultRow) -> str:
    """'26% of 112': the measured mean as a share of its roofline, as gpt-fast prints bandwidth achieved."""
    if r.ceiling_tok_s is None or r.mean is None:
        return ""
    bound = " (compute)" if r.ceiling_why else ""
    return f"{r.mean / r.ceiling_tok_s:.0%} of {r.ceiling_tok_s:.0f}{bound}"


WIDE = 8  # more figures than this: one row per figure, one column per setting


def percentile_cell(r: ResultRow) -> str:
    if r.metric not in PERCENTILE_METRICS or r.median is None or r.n < 2:
        return cell(r)
    mark = "*" if thin_p99(r.n) else ""  # a p99 of fewer samples than one needs; the header says so
    return f"{fmt_value(r.median, r.unit)} / {fmt_value(r.p99, r.unit)}{mark}"


def turn_on_side(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """The same table with one row per figure and one column per setting, for a narrow screen."""
    return ["figure", *(r[0] for r in rows)], [[h, *(r[i] for r in rows)] for i, h in enumerate(header) if i]


def natural_width(header: list[str], rows: list[list[str]]) -> int:
    """Columns a rich table needs to print every cell on one line (its borders and padding included)."""
    widths = [max(len(x) for x in column) for column in zip(header, *rows, strict=True)]
    return sum(widths) + 3 * len(widths) + 1


def fit_width(header: list[str], rows: list[list[str]], width: int) -> tuple[list[str], list[list[str]]]:
    """The table as is when it fits `width`, else on its side when that is narrower.

    A dozen columns squeezed into 80 wrap every cell to '57…'; one row per figure reads.
    """
    as_is = natural_width(header, rows)
    if as_is <= width:
        return header, rows
    turned = turn_on_side(header, rows)
    return turned if natural_width(*turned) < as_is else (header, rows)


def pivot(s: ScenarioFigures) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per label, one column per metric, a ceiling column after each decode
    figure that has one, plus n. A scenario with many figures (a load) is turned on its side: one row
    per figure, one column per setting, latencies as p50 / p99."""
    labels = list(dict.fromkeys(r.label for r in s.rows))
    metrics = list(dict.fromkeys(r.metric for r in s.rows))
    if len(metrics) > WIDE:
        by_cell = {(r.label, r.metric): r for r in s.rows}
        rows = []
        for m in metrics:
            title = figure_header(m)
            if m in PERCENTILE_METRICS:
                thin = any(thin_p99(r.n) for r in s.rows if r.metric == m and r.median is not None)
                title += f" p50 / p99{f' (*: n < {P99_MIN_SAMPLES})' if thin else ''}"
            rows.append(
                [title, *(percentile_cell(by_cell[(lb, m)]) if (lb, m) in by_cell else "" for lb in labels)]
            )
        n_row = ["n", *(str(next((r.n for r in s.rows if r.label == lb), "")) for lb in labels)]
        return ["figure", *labels], [*rows, n_row]
    with_ceiling = {r.metric for r in s.rows if r.ceiling_tok_s is not None}
    header = ["setting"]
    for m in metrics:
        header.append(figure_header(m))
        header += [f"{x}" for x in EXPANDED.get((s.name, m), ())]
        if m in with_ceiling:
            header.append("of ceiling (tok/s)")
    header.append("n")
    table = []
    by = {(r.label, r.metric): r for r in s.rows}
    for label in labels:
        line = [label]
        # n is the sample size of the setting's first figure (requests, or drafts
        # for acceptance), not of per-chunk figures such as ITL.
        first = next((r for r in s.rows if r.label == label), None)
        for m in metrics:
            r = by.get((label, m))
            line.append(cell(r) if r else "")
            for x in EXPANDED.get((s.name, m), ()):
                line.append(fmt_value(getattr(r, x), r.unit) if r else "")
            if m in with_ceiling:
                line.append(ceiling_cell(r) if r else "")
        line.append(str(first.n) if first else "")
        table.append(line)
    return header, table


def config_summary(report: RunSummary) -> dict[str, str]:
    run = report.run
    hw = run.hardware or {}
    gpus = hw.get("gpus") or []
    where = (
        ", ".join(g.get("name", "?") for g in gpus)
        if gpus
        else f"{hw.get('cpu_model', '?')} ({hw.get('usable_cores') or hw.get('logical_cores')} cores)"
    )
    launch = run.launch
    flags = launch.flags if launch else None
    info = run.server_info or {}
    key = run.keyprops
    out = {
        "engine": f"{run.engine or '?'} {run.engine_version or ''}".strip(),
        "model": run.model or "-",
        "revision": key.model_revision or "-",
        "quant": key.quant or "-",
        "max_model_len": str(info.get("max_model_len") or "-"),
        "launch flags": shlex.join(flags) if flags else ("(not launched by dyno)" if launch is None else "-"),
        "hardware": where,
    }
    ceiling = run.ceiling or {}
    if ceiling:
        served = f", served as {ceiling['dtype']}" if ceiling.get("dtype") else ""
        compute = ceiling.get("compute_tok_s")
        matmul = f"; matmuls bound one stream at {float(compute):.0f} tok/s" if compute else ""
        emulated = f" (bf16 emulated: {ceiling['bf16_emulated']})" if ceiling.get("bf16_emulated") else ""
        out["roofline"] = (
            f"{ceiling.get('hardware')}: {float(ceiling.get('memory_bandwidth_gb_s') or 0):.1f} GB/s, "
            f"catalog model {ceiling.get('model')} ({ceiling.get('quant')}{served}){matmul}{emulated}"
        )
    if launch is not None and launch.ready_s is not None:
        out["ready in"] = f"{launch.ready_s:.0f} s (process start -> /v1/models lists the model)"
    return out | {"dyno": run.dyno_version, "endpoint": run.endpoint or "-", "started": run.started_at}


def md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in [header, *rows]]
    out = ["| " + " | ".join(esc[0]) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(out)


def token_line(t: TokenCheck, strong: str = "") -> str:
    """Output tokens three ways, and whether they agree."""
    tok = f"output tokens: usage {t.usage_tokens}"
    tok += f" · per-chunk {t.chunk_tokens}" if t.chunk_tokens is not None else " · per-chunk n/a"
    tok += f" · /metrics {t.metrics_tokens:.0f}" if t.metrics_tokens is not None else " · /metrics n/a"
    disagreements = t.disagreements()
    if disagreements:
        return tok + f" · {strong}DISAGREE: " + "; ".join(disagreements) + strong
    return tok + " · agree"


def client_line(facts: dict[str, object]) -> str:
    """What the client itself cost: CPU share and event-loop lag (stored per scenario)."""
    cpu, lag, name = facts.get("client_cpu_fraction"), facts.get("loop_lag_p99_ms"), facts.get("event_loop")
    parts = []
    if isinstance(cpu, int | float):
        parts.append(f"CPU {cpu:.0%} of a core")
    if isinstance(lag, int | float):
        parts.append(f"event-loop lag p99 {lag:.2f} ms")
    if not parts:
        return ""
    return "client: " + ", ".join(parts) + (f" ({name})" if isinstance(name, str) else "")


def to_markdown(report: RunSummary) -> str:
    run = report.run
    cfg = config_summary(report)
    head = headline(report)
    parts = [f"## dyno run {run.id} · {run.kind} · {run.status}", ""]
    parts += [f"- **{k}**: {v}" for k, v in head.figures]
    if head.sentence:
        parts += ["", head.sentence]
    parts += ["", md_table(list(cfg), [[f"`{v}`" if k == "launch flags" else v for k, v in cfg.items()]])]
    if run.note:
        parts += ["", f"> {run.note}"]
    for s in report.scenarios:
        parts += ["", f"### {s.name} ({s.status})", ""]
        header, rows = pivot(s)
        if rows:
            parts.append(md_table(header, rows))
        else:
            parts.append("_no figures_")
        parts += ["", token_line(s.tokens, strong="**")]
        if health := client_line(s.facts):
            parts += ["", health]
        for n in s.notes:
            parts.append(f"- {n}")
    return "\n".join(parts) + "\n"


CLIENT_FACTS = ("client_cpu_fraction", "loop_lag_p50_ms", "loop_lag_p99_ms", "event_loop")


def key_columns(run: RunRow) -> dict[str, Any]:
    """The run's key properties as flat columns (flags as one shell-quoted string)."""
    key = run.keyprops
    out: dict[str, Any] = {k: getattr(key, k) for k in KEY_COLUMNS}
    # Runs stored before key properties existed still say what their columns say.
    out["model"] = out["model"] or run.model
    out["engine"] = out["engine"] or run.engine
    out["engine_version"] = out["engine_version"] or run.engine_version
    launch = run.launch
    flags = key.flags if key.flags is not None else (launch.flags if launch else None)
    out["flags"] = shlex.join(flags) if flags is not None else None
    out["suite"] = (key.workload or {}).get("suite")
    return out


def _row_dicts(report: RunSummary) -> list[dict[str, Any]]:
    key = key_columns(report.run)
    out = []
    for s in report.scenarios:
        for r in s.rows:
            out.append({"run_id": report.run.id, **key, **r.as_dict()})
    return out


def to_csv(report: RunSummary) -> str:
    rows = _row_dicts(report)
    buf = io.StringIO()
    if not rows:
        return ""
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def to_json(report: RunSummary) -> str:
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
                "client": {k: s.facts.get(k) for k in CLIENT_FACTS},
                "tokens": asdict(s.tokens) | {"disagreements": s.tokens.disagreements()},
                "results": [r.as_dict() for r in s.rows],
            }
            for s in report.scenarios
        ],
        "warnings": report.warnings,
    }
    return json.dumps(doc, indent=2, default=str)


RENDERERS = {"md": to_markdown, "csv": to_csv, "json": to_json}
