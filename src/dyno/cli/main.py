"""`dyno`: the entry point. Registers the commands and turns DynoError into a clean message."""

from __future__ import annotations

import errno
import sys

import typer
from rich.markup import escape

from dyno import __version__, signals
from dyno.cli import (
    bench,
    capacity,
    check,
    compare,
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
    switch,
    tune,
    up,
    verify,
)
from dyno.cli._common import err_console
from dyno.errors import DynoError

_ENVIRONMENT_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)

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


for module in (
    up,
    down,
    switch,
    status,
    logs,
    demo,
    bench,
    capacity,
    check,
    verify,
    tune,
    report,
    compare,
    runs,
    doctor,
    plan,
    lint,
    models,
):
    module.register(app)


def main() -> None:
    signals.install()
    try:
        app()
    except DynoError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        sys.exit(e.exit_code)
    except OSError as e:
        # The machine said no (a read-only or full DYNO_HOME, a file dyno may not write): a message
        # that names the path, not a traceback. Programming errors are not OSErrors and still raise.
        if e.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f" ({e.filename})" if e.filename else ""
        err_console.print(
            f"[bold red]error:[/] {escape(e.strerror or str(e))}{escape(where)}; DYNO_HOME must be a "
            "writable folder with free space (set DYNO_HOME to use another)",
            highlight=False,
        )
        sys.exit(1)
