"""`dyno doctor [--fix]`: can the engine start here? Apply the safe fixes."""

from __future__ import annotations

import typer

from dyno.bench import here
from dyno.cli._common import console, settings
from dyno.engine import runtime
from dyno.report.terminal import print_here


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        fix: bool = typer.Option(False, "--fix", help="Apply the fixes that are safe to apply."),
    ) -> None:
        """Check that the installed engine can start (and fix what can be fixed); say what is fast here."""
        findings = runtime.doctor(fix=fix)
        for f in findings:
            mark = "[green]ok[/]" if f.ok else "[red]FAIL[/]"
            extra = " [yellow](fixed)[/]" if f.fixed else ""
            console.print(f"{mark} {f.name}: {f.detail}{extra}", highlight=False)
            if not f.ok and f.fix:
                console.print(f"   fix: {f.fix}", highlight=False)
        print_here(here.advice(settings()), console)
        if not all(f.ok for f in findings):
            raise typer.Exit(1)
