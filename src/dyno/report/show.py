"""Pick the renderer for a stored run by its kind, and render it in the format asked for.

The CLI never chooses a renderer itself: `dyno report`, `dyno bench`,
`dyno demo`, `dyno check` and `dyno verify` all print a run through `show_run`.

The HTML pages and the plots are imported where they are drawn: matplotlib costs every
command that never draws ~50 MB and a fifth of a second at start.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from rich.console import Console

from dyno.errors import UsageError
from dyno.report.build import build_report
from dyno.report.check import check_csv, check_json, check_markdown
from dyno.report.compare import Comparison, build_comparison
from dyno.report.compare_render import RENDERERS as COMPARE_RENDERERS
from dyno.report.compare_render import print_comparison
from dyno.report.render import RENDERERS
from dyno.report.terminal import print_checks, print_report
from dyno.report.tune import build_tune_report, print_tune, tune_csv, tune_json, tune_markdown
from dyno.report.verify import build_verify_report, show
from dyno.store import Store


class Format(StrEnum):
    """Every report format; a command that offers fewer lists its own choices."""

    text = "text"
    md = "md"
    json = "json"
    csv = "csv"
    html = "html"


def show_run(
    store: Store,
    run_id: int,
    fmt: Format | str,
    console: Console,
    write: Callable[[str], object] = sys.stdout.write,
) -> None:
    fmt = Format(fmt)
    run = store.get_run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in {store.path} (see `dyno runs`)")
    if run.kind == "tune":
        rep = build_tune_report(store, run_id)
        if fmt is Format.text:
            print_tune(rep, console)
        elif fmt is Format.html:
            from dyno.report.html import tune_html

            write(tune_html(store, rep))
        else:
            tune_render = {Format.md: tune_markdown, Format.json: tune_json, Format.csv: tune_csv}[fmt]
            write(_line_ended(tune_render(rep)))
        return
    if fmt is Format.html and run.kind not in ("bench", "demo"):
        raise UsageError(
            f"--format html renders bench and demo runs (and compare, tune); run {run_id} is a {run.kind} run"
        )
    if run.kind == "check":
        checks = store.checks(run_id)
        if fmt is Format.text:
            print_checks(run, checks, console)
        else:
            render = {Format.md: check_markdown, Format.json: check_json, Format.csv: check_csv}[fmt]
            write(_line_ended(render(run, checks)))
        return
    if run.kind == "verify":
        show(build_verify_report(store, run_id), fmt.value, console)
        return
    if fmt is Format.html:
        from dyno.report.html import report_html

        write(report_html(store, run_id))
        return
    report = build_report(store, run_id)
    if fmt is Format.text:
        print_report(report, console)
    else:
        write(_line_ended(RENDERERS[fmt.value](report)))


def save_plots(store: Store, run_id: int, directory: Path) -> list[Path]:
    """The report's plots as PNG and SVG files."""
    from dyno.report.plots import close, report_plots, save

    plots = report_plots(build_report(store, run_id))
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
