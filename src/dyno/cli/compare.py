"""`dyno compare RUN RUN ...`: the field's matrix across runs, each difference with its uncertainty."""

from __future__ import annotations

from pathlib import Path

import typer

from dyno.cli._common import console, err_console, settings, writer
from dyno.report.show import Format, show_comparison
from dyno.store import Store, resolve_run_id


def register(app: typer.Typer) -> None:
    @app.command()
    def compare(
        runs: list[str] = typer.Argument(
            ..., help="Runs to compare (ids from `dyno runs`, or 'last'); verify runs add verdicts."
        ),
        baseline: str = typer.Option(
            None, "--baseline", help="The run the others are compared with (default: the first)."
        ),
        fmt: Format = typer.Option(Format.text, "--format", help="Output format."),
        output: Path = typer.Option(
            None, "--output", "-o", help="Write to this file instead of the terminal."
        ),
        plots: Path = typer.Option(None, "--plots", help="Also write the plots as PNG and SVG files here."),
    ) -> None:
        """Compare runs: one row per config, ratios vs the baseline with 95% intervals; mismatches marked."""
        with Store(settings().db_path) as store:
            ids = [resolve_run_id(store, r) for r in runs]
            base = resolve_run_id(store, baseline) if baseline else None
            with writer(output) as write:
                show_comparison(store, ids, base, fmt, console, write, plots)
        if output is not None:
            err_console.print(f"wrote {output}")
        if plots is not None:
            err_console.print(f"plots in {plots}")
