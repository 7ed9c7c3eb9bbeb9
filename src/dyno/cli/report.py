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
            run_id = resolve_run_id(store, run)
            row = store.get_run(run_id)
            if row is not None and row.kind == "check":
                from dyno.cli.check import print_checks
                from dyno.report.check import check_json, check_markdown, load_check

                crun, results = load_check(store, run_id)
                if fmt == "text":
                    print_checks(f"dyno check run {run_id}", results)
                else:
                    print(
                        check_json(crun, results) if fmt == "json" else check_markdown(crun, results), end=""
                    )
                return
            if row is not None and row.kind == "verify":
                from dyno.cli._common import console
                from dyno.report.verify import build_verify_report, show

                show(build_verify_report(store, run_id), fmt, console)
                return
            rep = build_report(store, run_id)
        if fmt == "text":
            from dyno.cli.bench import print_report

            print_report(rep)
        else:
            print(RENDERERS[fmt](rep), end="")
