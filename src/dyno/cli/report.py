"""`dyno report RUN`: re-render a stored run (md, json, csv, or terminal tables)."""

from __future__ import annotations

import typer

from dyno.cli._common import settings
from dyno.errors import UsageError
from dyno.report import build_report, resolve_run_id
from dyno.report.render import RENDERERS
from dyno.store import Store


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        run: str = typer.Argument("last", help="Run id (see `dyno runs`) or 'last'."),
        fmt: str = typer.Option("md", "--format", help="md | json | csv | text"),
    ) -> None:
        """Render a stored run from its raw rows."""
        if fmt not in ("text", *RENDERERS):
            raise UsageError(f"--format must be md, json, csv or text, not {fmt!r}")
        with Store(settings().db_path) as store:
            rep = build_report(store, resolve_run_id(store, run))
        if fmt == "text":
            from dyno.cli.bench import print_report

            print_report(rep)
        else:
            print(RENDERERS[fmt](rep), end="")
