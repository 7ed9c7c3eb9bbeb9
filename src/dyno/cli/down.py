"""`dyno down`: stop the running engine and every process of its group."""

from __future__ import annotations

import typer

from dyno.cli._common import console, settings
from dyno.engine import supervisor


def register(app: typer.Typer) -> None:
    @app.command()
    def down(
        grace: float = typer.Option(
            supervisor.DEFAULT_GRACE_S, "--grace", help="Seconds between SIGTERM and SIGKILL."
        ),
    ) -> None:
        """Stop the running engine (SIGTERM to its process group, then SIGKILL)."""
        report = supervisor.stop(settings(), grace_s=grace)
        if report.profile is None:
            console.print("no engine is running")
            return
        how = "stopped" if report.was_alive else "cleaned up after the dead engine"
        extra = f"; {len(report.killed)} needed SIGKILL" if report.killed else ""
        console.print(f"{how} {report.profile} ({len(report.terminated)} processes{extra})")
