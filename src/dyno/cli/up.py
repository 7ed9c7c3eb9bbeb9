"""`dyno up [PROFILE] [-- ENGINE FLAGS...]`: start an engine profile and wait until it serves."""

from __future__ import annotations

import os

import typer

from dyno.cli._common import console, exits_on_signal, fmt_duration, settings, startup_progress
from dyno.engine import profiles, supervisor
from dyno.engine.launch import launch_profile
from dyno.engine.llamacpp import ENV_BINARY
from dyno.recipe import engine_name


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
            metavar="[PROFILE] [-- ENGINE_FLAGS...]",
            help="Profile name (default: smollm2); extra engine flags after --.",
        ),
        port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default: a free one)."),
        host: str = typer.Option(
            "127.0.0.1", "--host", help="Address to bind. Anything but loopback exposes the server."
        ),
        api_key_env: str = typer.Option(
            None, "--api-key-env", help="Name of an env var holding an API key to require."
        ),
        allow_unauthenticated: bool = typer.Option(
            False, "--allow-unauthenticated", help="Allow a non-loopback --host without an API key."
        ),
        ready_timeout: float = typer.Option(
            supervisor.DEFAULT_READY_TIMEOUT_S,
            "--ready-timeout",
            min=1,
            help="Seconds to wait for readiness.",
        ),
        llama_server: str = typer.Option(
            None,
            "--llama-server",
            help=f"Your own llama-server binary for llama.cpp profiles (or set {ENV_BINARY}).",
        ),
    ) -> None:
        """Start an engine profile (fetching its model if needed) and wait until it serves."""
        name, extra = split_profile_and_flags(args or [])
        if llama_server:
            os.environ[ENV_BINARY] = llama_server  # where the supervisor looks for it
        stopped = "the engine was stopped before it served; nothing is left running"
        with exits_on_signal(stopped), startup_progress(f"the engine ({name})") as progress:
            state, took = launch_profile(
                settings(),
                name,
                extra_flags=extra,
                host=host,
                port=port,
                api_key_env=api_key_env,
                allow_unauthenticated=allow_unauthenticated,
                ready_timeout_s=ready_timeout,
                on_progress=progress,
            )
        console.print(
            f"[green]up[/] {name} at [bold]{state.url}[/] (model {state.served_name}, "
            f"pid {state.pid}, {engine_name(state.engine)} {state.engine_version or '?'}, "
            f"ready in {fmt_duration(took)})"
        )
        console.print(f"log: {state.log_path}", style="dim")
