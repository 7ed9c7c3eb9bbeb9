"""The field's plots, drawn with matplotlib from a report's rows (aggregates only: a 10k-request run draws
as fast as a 10-request one), as inline SVG for HTML or PNG/SVG files.

Medians with bands, not bare means: throughput per request is drawn as its
median with the min-max band; latency as its median with the band up to p99.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; set before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dyno.bench.figures import figure as figure_of
from dyno.bench.scenario import ResultRow
from dyno.bench.summary import RunSummary
from dyno.report.compare import Comparison

plt.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: smaller, and sharp at any zoom
        "svg.hashsalt": "dyno",  # the same ids every time: the same run renders the same page
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "figure.dpi": 100,
    }
)
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#57606a")


@dataclass(frozen=True)
class Plot:
    name: str  # file stem, e.g. concurrency-throughput
    title: str
    fig: Figure


def svg_text(fig: Figure) -> str:
    """Inline SVG: no XML prolog, no DOCTYPE, no metadata, no namespace URLs (HTML puts <svg> in the SVG
    namespace itself), and a width that follows the page."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(
        r'<svg([^>]*?)\swidth="[^"]*"\s+height="[^"]*"',
        r'<svg\1 class="plot" preserveAspectRatio="xMidYMid meet"',
        text,
        count=1,
    )
    return text.strip()


def save(plots: Sequence[Plot], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for p in plots:
        for ext in ("png", "svg"):
            path = directory / f"{p.name}.{ext}"
            p.fig.savefig(
                path,
                format=ext,
                metadata={"Date": None} if ext == "svg" else None,
                bbox_inches="tight",
                dpi=150,
            )
            out.append(path)
    return out


def close(plots: Sequence[Plot]) -> None:
    for p in plots:
        plt.close(p.fig)


def new_axes(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.set_title(title, loc="left", fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig, ax


def _num(label: str) -> float | None:
    m = re.fullmatch(r"c?(\d+(?:\.\d+)?)", label)
    return float(m.group(1)) if m else None


def _by(rows: Sequence[ResultRow], metric: str) -> list[tuple[float, ResultRow]]:
    pts = [(x, r) for r in rows if r.metric == metric and (x := _num(r.label)) is not None]
    return sorted(pts, key=lambda p: p[0])


def _mid(r: ResultRow) -> float:
    """The row's median, else its mean (a single value)."""
    return r.median if r.median is not None else (r.mean or 0.0)


def _band(ax: Axes, pts: list[tuple[float, ResultRow]], colour: str, label: str, upper: str) -> None:
    """Median line, with a band to `upper` (p99) or from min to max."""
    xs = [x for x, _ in pts]
    med = [_mid(r) for _, r in pts]
    if upper == "p99":
        lo, hi = med, [r.p99 if r.p99 is not None else m for (_, r), m in zip(pts, med, strict=True)]
        band = "p50–p99"
    else:
        lo = [r.min if r.min is not None else m for (_, r), m in zip(pts, med, strict=True)]
        hi = [r.max if r.max is not None else m for (_, r), m in zip(pts, med, strict=True)]
        band = "min–max"
    ax.plot(xs, med, marker="o", color=colour, label=f"{label} (median)")
    ax.fill_between(xs, lo, hi, color=colour, alpha=0.18, label=f"{label} {band}")


def _by_turn(rows: Sequence[ResultRow], metric: str) -> list[tuple[float, ResultRow]]:
    pts = [(float(r.label[1:]), r) for r in rows if r.metric == metric and re.fullmatch(r"t\d+", r.label)]
    return sorted(pts, key=lambda p: p[0])


def _turn_plots(rows: Sequence[ResultRow]) -> list[Plot]:
    """Sessions: TTFT by turn, and the prompt tokens the cache served beside what it could."""
    out: list[Plot] = []
    ttft = _by_turn(rows, "ttft_ms")
    if len(ttft) >= 2:
        fig, ax = new_axes("sessions: TTFT by turn", "turn", "TTFT (ms)")
        _band(ax, ttft, COLOURS[2], "TTFT", "p99")
        ax.legend(fontsize=8)
        out.append(Plot("sessions-ttft-by-turn", fig.axes[0].get_title(), fig))
    series = [
        (m, label, c)
        for m, label, c in (
            ("prompt_tokens", "prompt", COLOURS[0]),
            ("cached_tokens_bound", "an unlimited cache could serve", COLOURS[1]),
            ("cached_tokens", "the server's cache served", COLOURS[3]),
        )
        if len(_by_turn(rows, m)) >= 2
    ]
    if any(m != "prompt_tokens" for m, _, _ in series):
        fig, ax = new_axes("sessions: cached prompt tokens by turn", "turn", "tokens (mean)")
        for m, label, colour in series:
            pts = _by_turn(rows, m)
            ax.plot(
                [x for x, _ in pts], [r.mean or 0.0 for _, r in pts], marker="o", color=colour, label=label
            )
        ax.legend(fontsize=8)
        out.append(Plot("sessions-cached-by-turn", fig.axes[0].get_title(), fig))
    return out


CDF_POINTS = 256  # a curve a few hundred pixels wide shows no more; a row keeps up to SAMPLE_CAP samples


def cdf_points(samples: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """An empirical CDF as at most CDF_POINTS evenly spaced quantiles, min and max included: the page
    draws the same number of points for a run of 50 requests or of 50,000."""
    ys = np.linspace(0.0, 1.0, min(len(samples), CDF_POINTS))
    return np.quantile(np.asarray(samples, dtype=float), ys), ys


def report_plots(rep: RunSummary) -> list[Plot]:
    """Every plot the report has data for."""
    plots: list[Plot] = []
    for s in rep.scenarios:
        rows = s.rows
        if s.name in ("concurrency", "workload"):
            agg = _by(rows, "aggregate_tok_s") or _by(rows, "output_tok_s")
            per = _by(rows, "per_request_tok_s")
            # One load level is a table row, not a line: a plot needs two levels on its x axis.
            if len(agg) >= 2 or len(per) >= 2:
                fig, ax = new_axes(f"{s.name}: throughput vs concurrency", "requests in flight", "tok/s")
                if agg:
                    ax.plot(
                        [x for x, _ in agg],
                        [r.mean or 0.0 for _, r in agg],
                        marker="s",
                        color=COLOURS[0],
                        label="aggregate",
                    )
                if per:
                    _band(ax, per, COLOURS[1], "per request", "minmax")
                ax.legend(fontsize=8)
                plots.append(Plot(f"{s.name}-throughput", fig.axes[0].get_title(), fig))
            ttft = _by(rows, "ttft_ms")
            if len(ttft) >= 2:
                fig, ax = new_axes(f"{s.name}: TTFT vs concurrency", "requests in flight", "TTFT (ms)")
                _band(ax, ttft, COLOURS[2], "TTFT", "p99")
                ax.legend(fontsize=8)
                plots.append(Plot(f"{s.name}-ttft", fig.axes[0].get_title(), fig))
        itl = [r for r in rows if r.metric == "itl_ms" and r.samples]
        if itl:
            fig, ax = new_axes(f"{s.name}: inter-token latency (CDF)", "ITL (ms)", "fraction of gaps ≤ x")
            for i, r in enumerate(itl[:8]):
                ax.plot(*cdf_points(r.samples), color=COLOURS[i % len(COLOURS)], label=r.label)
            ax.legend(fontsize=8, title="setting")
            plots.append(Plot(f"{s.name}-itl-cdf", fig.axes[0].get_title(), fig))
        dec = [r for r in rows if r.metric == "decode_tok_s" and r.ceiling_tok_s]
        if dec:
            fig, ax = new_axes(f"{s.name}: decode tok/s against the roofline", "setting", "tok/s")
            xs = np.arange(len(dec))
            med = [_mid(r) for r in dec]
            err = [
                [m - (r.min if r.min is not None else m) for r, m in zip(dec, med, strict=True)],
                [(r.max if r.max is not None else m) - m for r, m in zip(dec, med, strict=True)],
            ]
            ax.bar(xs, med, color=COLOURS[0], yerr=err, capsize=3, label="measured (median, min–max)")
            ceilings = [r.ceiling_tok_s or 0.0 for r in dec]
            ax.hlines(
                ceilings, xs - 0.4, xs + 0.4, colors=COLOURS[1], linewidth=2.5, label="roofline ceiling"
            )
            ax.set_ylim(0, max([*ceilings, *med]) * 1.3)  # room for the legend above the bars
            ax.set_xticks(xs, [r.label for r in dec])
            ax.legend(fontsize=8, loc="upper left", ncol=2)
            plots.append(Plot(f"{s.name}-roofline", fig.axes[0].get_title(), fig))
        pos = [r for r in rows if r.metric.startswith("accept_at_")]
        if pos:
            fig, ax = new_axes("acceptance by draft position", "position", "accepted per draft")
            for i, kind in enumerate(dict.fromkeys(r.label for r in pos)):
                mine = sorted(
                    (int(r.metric.rsplit("_", 1)[1]), r.mean or 0.0) for r in pos if r.label == kind
                )
                ax.plot([p for p, _ in mine], [v for _, v in mine], marker="o", color=COLOURS[i], label=kind)
            ax.set_ylim(0, 1)
            ax.legend(fontsize=8, title="content")
            plots.append(Plot("acceptance-by-position", fig.axes[0].get_title(), fig))
        if s.name in ("sessions", "agent"):
            plots += _turn_plots(rows)
        if s.name == "prefill":
            tok = {r.label: r.mean for r in rows if r.metric == "prompt_tokens"}
            pts = sorted(
                ((tok[r.label] or 0.0, r) for r in rows if r.metric == "ttft_ms" and tok.get(r.label)),
                key=lambda p: p[0],
            )
            if len(pts) >= 2:
                fig, ax = new_axes(
                    "prefill: time to first token vs prompt length", "prompt tokens", "TTFT (ms)"
                )
                _band(ax, pts, COLOURS[3], "TTFT", "p99")
                ax.legend(fontsize=8)
                plots.append(Plot("prefill", fig.axes[0].get_title(), fig))
    return plots


def bars(
    title: str,
    name: str,
    labels: list[str],
    values: list[float],
    errors: list[tuple[float, float]] | None,
    unit: str,
    baseline: int = 0,
) -> Plot:
    """Per-config bars (a comparison), with error bars where there are intervals."""
    fig, ax = new_axes(title, "", unit)
    xs = np.arange(len(labels))
    colours = [COLOURS[1] if i == baseline else COLOURS[0] for i in range(len(labels))]
    yerr = None
    if errors:
        yerr = [
            [max(0.0, v - lo) for v, (lo, _) in zip(values, errors, strict=True)],
            [max(0.0, hi - v) for v, (_, hi) in zip(values, errors, strict=True)],
        ]
    ax.bar(xs, values, color=colours, yerr=yerr, capsize=3)
    ax.set_xticks(xs, labels, rotation=20, ha="right", fontsize=8)
    return Plot(name, title, fig)


def unit_of(metric: str) -> str:
    return figure_of(metric).unit


def compare_plots(c: Comparison, most: int = 4) -> list[Plot]:
    """Per-config bars for the comparison's first figures that at least two configs have."""
    plots = []
    ids = [cfg.run.id for cfg in c.configs]
    for col in c.columns:
        cells = [c.cell(rid, col) for rid in ids]
        if sum(1 for x in cells if x is not None and x.value is not None) < 2:
            continue
        labels, values, errors = [], [], []
        for cfg, cell in zip(c.configs, cells, strict=True):
            if cell is None or cell.value is None:
                continue
            labels.append(f"run {cfg.run.id}")
            values.append(cell.value)
            r = cell.ratio
            # The interval of the ratio, carried onto this config's value.
            errors.append(
                (cell.value * r.low / r.ratio, cell.value * r.high / r.ratio)
                if r and r.ratio and r.low is not None and r.high is not None
                else (cell.value, cell.value)  # no interval at this n: no bar drawn
            )
        base = next(
            (
                i
                for i, cfg in enumerate(x for x in c.configs if c.cell(x.run.id, col))
                if cfg.run.id == c.baseline_id
            ),
            0,
        )
        name = re.sub(r"[^a-z0-9]+", "-", col.key.lower()).strip("-")
        plots.append(bars(col.title, f"compare-{name}", labels, values, errors, unit_of(col.metric), base))
        if len(plots) >= most:
            break
    return plots


def tune_plot(points: Sequence[tuple[int, float, float, float, float | None, float | None]]) -> Plot | None:
    """tok/s (median, min-max) and acceptance vs k, with the physics prediction: the field's k sweep."""
    if len(points) < 2:
        return None
    ks = [p[0] for p in points]
    fig, ax = new_axes(
        "tok/s and acceptance vs draft tokens k", "num_speculative_tokens (k)", "objective (tok/s)"
    )
    med = [p[1] for p in points]
    lo = [m - p[2] for m, p in zip(med, points, strict=True)]
    hi = [p[3] - m for m, p in zip(med, points, strict=True)]
    ax.errorbar(
        ks, med, yerr=[lo, hi], marker="o", color=COLOURS[0], capsize=3, label="measured (median, min–max)"
    )
    pred = [(p[0], p[5]) for p in points if p[5] is not None]
    if pred:
        ax.plot(
            [k for k, _ in pred],
            [v for _, v in pred],
            linestyle="--",
            marker="x",
            color=COLOURS[2],
            label="predicted",
        )
    acc = [(p[0], p[4]) for p in points if p[4] is not None]
    if acc:
        ax2 = ax.twinx()
        ax2.plot(
            [k for k, _ in acc], [v for _, v in acc], marker="s", color=COLOURS[1], label="acceptance rate"
        )
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("acceptance rate")
        ax2.grid(False)
        ax2.legend(fontsize=8, loc="lower right")
    ax.legend(fontsize=8, loc="upper left")
    return Plot("tune-k", "tok/s and acceptance vs k", fig)
