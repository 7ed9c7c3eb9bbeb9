"""`dyno logs [-f]`: the engine's log (the running one, or the last profile started)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from dyno.cli._common import settings
from dyno.engine.state import read_state
from dyno.engine.supervisor import log_tail
from dyno.errors import UsageError


def _pick_log(profile: str | None) -> Path:
    s = settings()
    if profile:
        return s.logs_dir / f"{profile}.log"
    state = read_state(s)
    if state is not None:
        return Path(state.log_path)
    logs = sorted(s.logs_dir.glob("*.log"), key=lambda p: p.stat().st_mtime) if s.logs_dir.is_dir() else []
    if not logs:
        raise UsageError("no engine log yet; start one with `dyno up`")
    return logs[-1]


def register(app: typer.Typer) -> None:
    @app.command()
    def logs(
        profile: str = typer.Argument(None, help="Profile whose log to show (default: the running one)."),
        follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
        lines: int = typer.Option(50, "-n", "--lines", help="How many lines to show first."),
    ) -> None:
        """Print the engine log (and follow it with -f)."""
        path = _pick_log(profile)
        if not path.exists():
            raise UsageError(f"no log at {path}")
        for line in log_tail(path, lines):
            print(line)
        if not follow:
            return
        with path.open("r", errors="replace") as f:
            f.seek(0, 2)
            try:
                while True:
                    line = f.readline()
                    if line:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                        continue
                    time.sleep(0.2)
            except KeyboardInterrupt:
                return
