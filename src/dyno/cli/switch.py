"""`dyno switch PROFILE`: stop the running engine and start another (one model at a time on a box)."""

from __future__ import annotations

import typer

from dyno.cli._common import console, exits_on_signal, fmt_duration, settings, startup_progress
from dyno.engine.launch import switch as switch_to


def register(app: typer.Typer) -> None:
    @app.command()
    def switch(profile: str = typer.Argument(..., help="The profile to run instead.")) -> None:
        """Stop the running engine and start PROFILE; each profile keeps its own compile cache."""
        with (
            exits_on_signal("the new engine was stopped before it served"),
            startup_progress(f"the engine ({profile})") as progress,
        ):
            done = switch_to(settings(), profile, on_progress=progress)
        if done.ready_s == 0.0 and done.stopped is None:
            console.print(f"{profile} is already running at {done.state.url}")
            return
        was = f" (stopped {done.stopped})" if done.stopped else ""
        console.print(
            f"[green]up[/] {profile} at [bold]{done.state.url}[/]{was}, ready in {fmt_duration(done.ready_s)}"
        )
