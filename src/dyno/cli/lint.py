"""`dyno lint RECIPE.toml | -- vllm serve ... | -- docker run ...`: find the known traps before launch."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from dyno.catalog import get_hardware
from dyno.cli._common import console, err_console, settings
from dyno.engine.preflight import lint_launch
from dyno.report.lint import lint_json, print_lint


class LintFormat(StrEnum):
    text = "text"
    json = "json"


def register(app: typer.Typer) -> None:
    @app.command(name="lint")
    def lint_command(
        args: list[str] = typer.Argument(
            None, metavar="RECIPE.toml | -- COMMAND...", help="A recipe file, or a pasted command after --."
        ),
        hardware: str = typer.Option(None, "--hardware", help="Hardware id the command is for (gb10, ...)."),
        model_dir: Path = typer.Option(None, "--model-dir", help="Local model folder (config.json, ...)."),
        engine_version: str = typer.Option(None, "--engine-version", help="vLLM version it will run on."),
        engine_check: bool = typer.Option(
            True, "--engine-check/--no-engine-check", help="Check the flags with vLLM's own parser."
        ),
        fmt: LintFormat = typer.Option(LintFormat.text, "--format", help="Output format."),
    ) -> None:
        """Lint a launch config for the known traps; exit 1 when any finding is an error."""
        hw = get_hardware(hardware, cpu_cache=settings().cache_dir) if hardware else None
        out = lint_launch(
            args or [],
            hardware=hw,
            model_dir=model_dir,
            engine_version=engine_version,
            engine_check=engine_check,
        )
        if fmt is LintFormat.json:
            print(json.dumps(lint_json(out), indent=1))
        else:
            print_lint(out, console, err_console)
        if out.errors:
            raise typer.Exit(1)
