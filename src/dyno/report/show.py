"""Pick the renderer for a stored run by its kind, and render it in the format asked for.

The CLI never chooses a renderer itself: `dyno report`, `dyno bench`,
`dyno demo`, `dyno check` and `dyno verify` all print a run through `show_run`.

The HTML pages and the plots are imported where they are drawn: matplotlib costs every
command that never draws ~50 MB and a fifth of a second at start.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.console import Console

from dyno.bench.summary import RunSummary, summarize_run
from dyno.capacity.result import CapacityResult, summarize_capacity
from dyno.errors import UsageError
from dyno.report.capacity import capacity_json, capacity_markdown, print_capacity
from dyno.report.check import check_csv, check_json, check_markdown
from dyno.report.compare import Comparison, build_comparison
from dyno.report.compare_render import RENDERERS as COMPARE_RENDERERS
from dyno.report.compare_render import print_comparison
from dyno.report.render import RENDERERS
from dyno.report.terminal import print_checks, print_report
from dyno.report.tune import print_tune, tune_csv, tune_json, tune_markdown
from dyno.report.verify import RENDERERS as VERIFY_RENDERERS
from dyno.report.verify import print_text as print_verify
from dyno.store import CheckRow, RunRow, Store, load_run
from dyno.tune.result import TuneSummary, summarize_tune
from dyno.verify.summary import build_verify_report


class Format(StrEnum):
    """Every report format; a command that offers fewer lists its own choices."""

    text = "text"
    md = "md"
    json = "json"
    csv = "csv"
    html = "html"


@dataclass(frozen=True)
class _Check:
    run: RunRow
    checks: list[CheckRow]


def _check(store: Store, run_id: int) -> _Check:
    return _Check(load_run(store, run_id), store.checks(run_id))


def _report_html(store: Store, rep: RunSummary) -> str:
    from dyno.report.html import report_html  # matplotlib is imported only where a page is drawn

    return report_html(store, rep.run.id)


def _capacity_html(store: Store, rep: CapacityResult) -> str:
    from dyno.report.html import capacity_html

    return capacity_html(store, rep)


def _tune_html(store: Store, rep: TuneSummary) -> str:
    from dyno.report.html import tune_html

    return tune_html(store, rep)


@dataclass(frozen=True)
class Shape:
    """How one run kind is shown: the finished, typed result it is read as, and one renderer per format.

    Every kind goes the same way: `read` the result from the store (derived in its own layer),
    then the terminal printer for text, or a renderer whose string goes through `write` (`-o`).
    """

    read: Callable[[Store, int], Any]
    text: Callable[[Any, Console], None]
    renderers: dict[Format, Callable[[Any], str]]
    html: Callable[[Store, Any], str] | None = None


_BENCH = Shape(
    summarize_run,
    print_report,
    {Format(k): v for k, v in RENDERERS.items()},
    _report_html,
)
SHAPES: dict[str, Shape] = {
    "bench": _BENCH,
    "demo": _BENCH,
    "tune": Shape(
        summarize_tune,
        print_tune,
        {Format.md: tune_markdown, Format.json: tune_json, Format.csv: tune_csv},
        _tune_html,
    ),
    "capacity": Shape(
        summarize_capacity,
        print_capacity,
        {Format.md: capacity_markdown, Format.json: capacity_json},
        _capacity_html,
    ),
    "verify": Shape(
        build_verify_report,
        print_verify,
        {Format(k): v for k, v in VERIFY_RENDERERS.items()},
    ),
    "check": Shape(
        _check,
        lambda c, console: print_checks(c.run, c.checks, console),
        {
            Format.md: lambda c: check_markdown(c.run, c.checks),
            Format.json: lambda c: check_json(c.run, c.checks),
            Format.csv: lambda c: check_csv(c.run, c.checks),
        },
    ),
}


def show_run(
    store: Store,
    run_id: int,
    fmt: Format | str,
    console: Console,
    write: Callable[[str], object] = sys.stdout.write,
) -> None:
    """Show a stored run of any kind in `fmt`: text on the console, every other format through `write`."""
    fmt = Format(fmt)
    run = load_run(store, run_id)
    shape = SHAPES.get(run.kind)
    if shape is None:
        raise UsageError(f"run {run_id} is a {run.kind} run, which `dyno report` does not render")
    result = shape.read(store, run_id)
    if fmt is Format.text:
        shape.text(result, console)
    elif fmt is Format.html:
        if shape.html is None:
            html_kinds = ", ".join(k for k, v in SHAPES.items() if v.html is not None)
            raise UsageError(
                f"--format html renders {html_kinds} runs (and compare); run {run_id} is a {run.kind} run"
            )
        write(shape.html(store, result))
    else:
        write(_line_ended(shape.renderers[fmt](result)))


def save_plots(store: Store, run_id: int, directory: Path) -> list[Path]:
    """The report's plots as PNG and SVG files."""
    from dyno.report.plots import close, report_plots, save

    plots = report_plots(summarize_run(store, run_id))
    try:
        return save(plots, directory)
    finally:
        close(plots)


def show_comparison(
    store: Store,
    run_ids: list[int],
    baseline: int | None,
    fmt: Format | str,
    console: Console,
    write: Callable[[str], object] = sys.stdout.write,
    plots_dir: Path | None = None,
) -> Comparison:
    fmt = Format(fmt)
    c = build_comparison(store, run_ids, baseline)
    if fmt is Format.text:
        print_comparison(c, console)
    elif fmt is Format.html:
        from dyno.report.html import compare_html

        write(compare_html(store, c))
    else:
        write(_line_ended(COMPARE_RENDERERS[fmt.value](c)))
    if plots_dir is not None:
        from dyno.report.plots import close, compare_plots, save

        drawn = compare_plots(c)
        try:
            save(drawn, plots_dir)
        finally:
            close(drawn)
    return c


def _line_ended(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"
