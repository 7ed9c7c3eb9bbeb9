"""`dyno report RUN`: re-render a stored run (any kind) from its raw rows."""

from __future__ import annotations

import typer

from dyno.cli._common import console, settings
from dyno.report import resolve_run_id
from dyno.report.show import Format, show_run
from dyno.store import Store


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        run: str = typer.Argument("last", help="Run id (see `dyno runs`) or 'last'."),
        fmt: Format = typer.Option(Format.md, "--format", help="Output format."),
    ) -> None:
        """Render a stored run from its raw rows."""
        with Store(settings().db_path) as store:
            show_run(store, resolve_run_id(store, run), fmt, console)
