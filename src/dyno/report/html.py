"""One self-contained HTML page per report, comparison or tune: works offline, on a phone, and on paper.

Nothing is fetched: no CDN, no template download (GuideLLM's report fetches
its page at render time and fails offline), no web fonts. Styles are inline,
plots are inline SVG, and the raw per-request data rides along as a CSV
download in a data: URI. The page has no script.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Iterable, Sequence

from dyno import __version__
from dyno.bench.summary import RunSummary, summarize_run
from dyno.capacity.result import CapacityResult
from dyno.client import RequestRecord, derive
from dyno.report.capacity import header, lines, probe_rows
from dyno.report.capacity_plots import capacity_plots
from dyno.report.compare import Comparison
from dyno.report.compare_render import HOW
from dyno.report.headline import headline
from dyno.report.plots import Plot, close, compare_plots, report_plots, svg_text, tune_plot
from dyno.report.render import client_line, config_summary, pivot, token_line
from dyno.report.tune import k_points, summary_lines
from dyno.report.tune import rows as tune_rows
from dyno.store import Store
from dyno.tune.result import TuneSummary

CSS = """
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0;
        --warn: #9a6700; --bad: #d1242f; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); margin: 0 auto; padding: 1rem; max-width: 70rem; line-height: 1.45; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; }
.muted { color: var(--muted); } .warn { color: var(--warn); } .bad { color: var(--bad); }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: .85rem; margin: .4rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f8fa; }
table.kv td { text-align: left; } table.kv td:first-child { color: var(--muted); white-space: nowrap; }
figure { margin: 1rem 0; } figcaption { font-size: .85rem; color: var(--muted); }
svg.plot { width: 100%; height: auto; max-width: 46rem; }
ul.notes { font-size: .9rem; padding-left: 1.2rem; }
a.download { display: inline-block; margin: .5rem 0; }
@media (max-width: 40rem) { body { padding: .5rem; } table { font-size: .75rem; } }
@media print { body { max-width: none; } a.download { display: none; } figure { break-inside: avoid; }
               .scroll { overflow: visible; } }
"""

REQUEST_COLUMNS = (
    "run_id", "scenario", "label", "seq", "ok", "error_kind", "http_status", "prompt_tokens", "output_tokens",
    "ttft_ms", "decode_tok_s", "e2e_s", "dispatch_delay_ms", "ttft_from_intended_ms", "server_ttft_ms",
    "finish_reason",
)  # fmt: skip


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def table(header: Sequence[str], rows: Iterable[Sequence[object]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    inner = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
    return f'<div class="scroll"><table class="{cls}">{inner}</table></div>'


def kv(rows: Iterable[tuple[str, object]]) -> str:
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<div class="scroll"><table class="kv"><tbody>{body}</tbody></table></div>'


def figures(plots: Sequence[Plot]) -> str:
    out = "".join(
        f'<figure data-plot="{_e(p.name)}">{svg_text(p.fig)}<figcaption>{_e(p.title)}</figcaption></figure>'
        for p in plots
    )
    close(plots)
    return out


def notes(items: Iterable[str], cls: str = "") -> str:
    lis = "".join(f'<li class="{cls}">{_e(n)}</li>' for n in items)
    return f'<ul class="notes">{lis}</ul>' if lis else ""


def request_rows(records: Iterable[RequestRecord], run_id: int) -> Iterable[list[object]]:
    for r in records:
        yield [
            run_id, r.scenario, r.label, r.seq, r.ok, r.error_kind or "", r.http_status or "",
            r.prompt_tokens, r.output_tokens, derive.ttft_ms(r), derive.decode_tok_s(r), derive.e2e_s(r),
            derive.dispatch_delay_ms(r), derive.ttft_from_intended_ms(r), derive.server_ttft_ms(r),
            r.finish_reason or "",
        ]  # fmt: skip


def requests_csv(store: Store, run_ids: Sequence[int]) -> str:
    """Per-request figures (no chunks, no text), streamed from the store one row at a time."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(REQUEST_COLUMNS)
    for rid in run_ids:
        for row in request_rows(store.iter_requests(rid), rid):
            w.writerow(["" if v is None else (f"{v:.4f}" if isinstance(v, float) else v) for v in row])
    return buf.getvalue()


def download(csv_text: str, name: str) -> str:
    data = base64.b64encode(csv_text.encode()).decode()
    rows = csv_text.count("\n") - 1
    return (
        f'<a class="download" download="{_e(name)}" href="data:text/csv;base64,{data}">'
        f"Download the raw per-request data ({rows} rows, CSV)</a>"
    )


def page(title: str, subtitle: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{_e(title)}</h1><p class="muted">{_e(subtitle)}</p>{body}'
        f'<p class="muted">made by dyno {_e(__version__)}; this page fetches nothing</p></body></html>\n'
    )


def report_html(store: Store, run_id: int) -> str:
    rep: RunSummary = summarize_run(store, run_id)
    run = rep.run
    head = headline(rep)
    parts = []
    if head.figures:
        parts += ["<h2>Headline</h2>", kv(head.figures)]
    if head.sentence:
        parts.append(f"<p><strong>{_e(head.sentence)}</strong></p>")
    parts += ["<h2>Provenance</h2>", kv(config_summary(rep).items())]
    if run.note:
        parts.append(f'<p class="warn">{_e(run.note)}</p>')
    if rep.warnings:
        parts += ["<h2>Warnings</h2>", notes(rep.warnings, "bad")]
    plots = report_plots(rep)
    if plots:
        parts += ["<h2>Plots</h2>", figures(plots)]
    for s in rep.scenarios:
        header, rows = pivot(s)
        parts.append(f'<h2>{_e(s.name)} <span class="muted">({_e(s.status)})</span></h2>')
        parts.append(table(header, rows) if rows else '<p class="muted">no figures</p>')
        lines = [token_line(s.tokens)] + ([h] if (h := client_line(s.facts)) else [])
        parts.append(notes(lines + s.notes))
    parts += ["<h2>Raw data</h2>", download(requests_csv(store, [run_id]), f"dyno-run-{run_id}-requests.csv")]
    subtitle = (
        f"{run.kind} · {run.status} · {run.model or '?'} on {run.engine or '?'} {run.engine_version or ''}"
    )
    return page(f"dyno run {run.id}", f"{subtitle} · {run.started_at}", "".join(parts))


def compare_html(store: Store, c: Comparison) -> str:
    parts = ["<h2>Configs</h2>"]
    parts.append(
        table(
            [
                "run",
                "config",
                "baseline",
                "engine",
                "model",
                "revision",
                "hardware",
                "lossless",
                "not like for like",
            ],
            [
                [
                    cfg.run.id,
                    cfg.name,
                    "yes" if cfg.run.id == c.baseline_id else "",
                    f"{cfg.run.engine or '?'} {cfg.run.engine_version or ''}",
                    cfg.run.model or "-",
                    cfg.run.keyprops.model_revision or "-",
                    cfg.run.keyprops.hardware or "-",
                    cfg.lossless or "-",
                    "; ".join(cfg.mismatches) or "",
                ]
                for cfg in c.configs
            ],
        )
    )
    header = ["figure", *(f"run {cfg.run.id}" for cfg in c.configs)]
    rows = []
    for col in c.columns:
        rows.append([col.title, *(
            (cell.text(cfg.run.id == c.baseline_id) if (cell := c.cell(cfg.run.id, col)) else "-")
            for cfg in c.configs
        )])  # fmt: skip
    parts += ["<h2>Matrix</h2>", table(header, rows), f'<p class="muted">{_e(HOW)}</p>']
    plots = compare_plots(c)
    if plots:
        parts += ["<h2>Plots</h2>", figures(plots)]
    if c.notes:
        parts += ["<h2>Notes</h2>", notes(c.notes, "warn")]
    ids = [cfg.run.id for cfg in c.configs]
    parts += ["<h2>Raw data</h2>", download(requests_csv(store, ids), "dyno-compare-requests.csv")]
    return page(
        "dyno compare", f"baseline run {c.baseline_id} · runs {', '.join(map(str, ids))}", "".join(parts)
    )


def capacity_html(store: Store, rep: CapacityResult) -> str:
    """The sentence and the figures first, then the probes, the plots and the raw data."""
    parts = [f"<p><strong>{_e(rep.sentence)}</strong></p>", notes(lines(rep)[1:])]
    parts += ["<h2>Probes</h2>", table(header(rep), probe_rows(rep))]
    plots = capacity_plots(rep)
    if plots:
        parts += ["<h2>Plots</h2>", figures(plots)]
    if rep.run.note:
        parts.append(f'<p class="warn">{_e(rep.run.note)}</p>')
    parts += [
        "<h2>Raw data</h2>",
        download(requests_csv(store, [rep.run.id]), f"dyno-capacity-{rep.run.id}-requests.csv"),
    ]
    run = rep.run
    subtitle = f"{run.status} · {run.model or '?'} on {run.engine or '?'} {run.engine_version or ''}"
    return page(f"dyno capacity {run.id}", f"{subtitle} · {run.started_at}", "".join(parts))


def tune_html(store: Store, rep: TuneSummary) -> str:
    header, body = tune_rows(rep)
    parts = ["<h2>Sweep</h2>", table(header, body), notes(summary_lines(rep))]
    if rep.run.note:
        parts.append(f'<p class="warn">{_e(rep.run.note)}</p>')
    plot = tune_plot(k_points(rep))
    if plot is not None:
        parts += ["<h2>Plots</h2>", figures([plot])]
    parts += ["<h2>Options</h2>", kv((k, v) for k, v in rep.options.items())]
    ids = [v.row.bench_run_id for v in rep.trials if v.row.bench_run_id is not None]
    if ids:
        parts += [
            "<h2>Raw data</h2>",
            download(requests_csv(store, ids), f"dyno-tune-{rep.run.id}-requests.csv"),
        ]
    title = f"dyno tune {rep.run.id}"
    return page(
        title,
        f"profile {rep.options.get('profile')} · {rep.run.status} · {rep.run.started_at}",
        "".join(parts),
    )
