"""`dyno`: the entry point. Registers the commands and turns DynoError into a clean message."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from dyno import __version__, signals
from dyno.cli import (
    bench,
    check,
    demo,
    doctor,
    down,
    lint,
    logs,
    models,
    plan,
    report,
    runs,
    status,
    up,
    verify,
)
from dyno.cli._common import err_console
from dyno.errors import DynoError

app = typer.Typer(
    name="dyno",
    help="Put a self-hosted LLM server on a dynamometer: plan, launch, check, bench, verify, tune, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"dyno {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print dyno's version and exit."
    ),
) -> None:
    pass


for module in (up, down, status, logs, demo, bench, check, verify, report, models, runs, doctor, plan, lint):
    module.register(app)


def main() -> None:
    signals.install()
    try:
        app()
    except DynoError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        sys.exit(e.exit_code)
