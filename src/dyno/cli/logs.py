"""`dyno logs [-f]`: the engine's log (the running one, or the last profile started)."""

from __future__ import annotations

import sys

import typer

from dyno.cli._common import settings
from dyno.engine.supervisor import follow_log, log_tail, pick_log


def register(app: typer.Typer) -> None:
    @app.command()
    def logs(
        profile: str = typer.Argument(None, help="Profile whose log to show (default: the running one)."),
        follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
        lines: int = typer.Option(50, "-n", "--lines", min=0, help="How many lines to show first."),
    ) -> None:
        """Print the engine log (and follow it with -f)."""
        path = pick_log(settings(), profile)
        for line in log_tail(path, lines):
            print(line)
        if not follow:
            return
        try:
            for line in follow_log(path):
                sys.stdout.write(line)
                sys.stdout.flush()
        except KeyboardInterrupt:
            return
