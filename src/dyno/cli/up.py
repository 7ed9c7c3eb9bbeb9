"""`dyno up [PROFILE] [-- VLLM FLAGS...]`: start an engine profile and wait until it serves."""

from __future__ import annotations

import typer

from dyno.cli._common import console, fmt_duration, settings, startup_progress
from dyno.engine import profiles, supervisor


def split_profile_and_flags(args: list[str]) -> tuple[str, tuple[str, ...]]:
    """`up smollm2 -- --x 1` and `up -- --x 1`: a leading flag means the default profile."""
    if not args or args[0].startswith("-"):
        return profiles.DEFAULT_PROFILE, tuple(args)
    return args[0], tuple(args[1:])


def register(app: typer.Typer) -> None:
    @app.command()
    def up(
        args: list[str] = typer.Argument(
            None,
            metavar="[PROFILE] [-- VLLM_FLAGS...]",
            help="Profile name (default: smollm2); extra vLLM flags after --.",
        ),
        port: int = typer.Option(None, "--port", help="Port to serve on (default: a free one)."),
        host: str = typer.Option(
            "127.0.0.1", "--host", help="Address to bind. Anything but loopback exposes the server."
        ),
        api_key_env: str = typer.Option(
            None, "--api-key-env", help="Name of an env var holding an API key to require."
        ),
        ready_timeout: float = typer.Option(
            supervisor.DEFAULT_READY_TIMEOUT_S,
            "--ready-timeout",
            help="Seconds to wait for readiness.",
        ),
    ) -> None:
        """Start an engine profile (fetching its model if needed) and wait until it serves."""
        s = settings()
        name, extra = split_profile_and_flags(args or [])
        prof = profiles.load_profile(s, name)
        if port is not None:  # before the model conversion, which can take a while
            supervisor.check_port_free(host, port)
        with console.status("preparing the model (converted once, then cached) ..."):
            recipe = profiles.to_recipe(s, prof, extra_flags=extra, host=host, api_key_env=api_key_env)
        with startup_progress(f"vLLM ({name})") as progress:
            state = supervisor.start(
                s, name, recipe, port=port, ready_timeout_s=ready_timeout, on_progress=progress
            )
        took = (state.ready_at or 0) - state.started_at
        console.print(
            f"[green]up[/] {name} at [bold]{state.url}[/] (model {state.served_name}, "
            f"pid {state.pid}, vLLM {state.engine_version or '?'}, ready in {fmt_duration(took)})"
        )
        console.print(f"log: {state.log_path}", style="dim")
