"""`dyno report RUN`: re-render a stored run (any kind) from its raw rows."""

from __future__ import annotations

from pathlib import Path

import typer

from dyno.cli._common import console, err_console, settings, writer
from dyno.report.show import Format, save_plots, show_run
from dyno.store import Store, resolve_run_id


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        run: str = typer.Argument("last", help="Run id (see `dyno runs`) or 'last'."),
        fmt: Format = typer.Option(Format.md, "--format", help="Output format."),
        output: Path = typer.Option(
            None, "--output", "-o", help="Write to this file instead of the terminal."
        ),
        plots: Path = typer.Option(
            None, "--plots", help="Also write the run's plots as PNG and SVG files here."
        ),
    ) -> None:
        """Render a stored run from its raw rows (html: one offline page with plots and the raw data)."""
        with Store(settings().db_path) as store:
            run_id = resolve_run_id(store, run)
            with writer(output) as write:
                show_run(store, run_id, fmt, console, write)
            if plots is not None:
                for path in save_plots(store, run_id, plots):
                    err_console.print(f"wrote {path}")
        if output is not None:
            err_console.print(f"wrote {output}")
