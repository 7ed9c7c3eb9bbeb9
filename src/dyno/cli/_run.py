"""How a command that runs something shows it and ends: the progress bar, the run a signal kept,
the stored run rendered, and one exit (`finish`) from the run's `RunOutcome`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import typer
from rich.markup import escape

from dyno import signals
from dyno.cli._common import console, err_console, settings, writer
from dyno.report.progress import RequestBar
from dyno.settings import Settings
from dyno.store import RunOutcome, Store, stored_runs


def finish(outcome: RunOutcome, stored: str | None = None) -> None:
    """The one way a run's command ends: where it is stored, why it does not pass, its exit code."""
    what = "demo run" if outcome.kind == "demo" else f"{outcome.kind} run"
    err_console.print(
        stored or f"stored as run {outcome.run_id}; `dyno report {outcome.run_id}` renders it again",
        highlight=False,
    )
    if outcome.tolerated:
        err_console.print(f"[yellow]tolerated[/]: {escape(outcome.tolerated)}", highlight=False)
    if outcome.exit_code:
        err_console.print(
            f"[red]{what} {outcome.run_id} is {outcome.status}[/]: {escape(outcome.message)}"
            if outcome.status != "complete"
            else f"[red]{what} {outcome.run_id} does not pass[/]: {escape(outcome.message)}",
            highlight=False,
        )
    raise typer.Exit(outcome.exit_code)


@contextmanager
def stored_on_interrupt() -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP: say which runs were kept (the recorder names them), exit 128 + N."""
    try:
        yield
    except KeyboardInterrupt as e:
        runs = stored_runs(e)
        kept = (
            f"run {', '.join(map(str, runs))} is stored as partial with what it measured"
            if runs
            else "nothing stored"
        )
        err_console.print(f"[yellow]{escape(signals.describe(e))}[/]: {kept}")
        raise typer.Exit(signals.exit_code(e)) from None


Outcome = TypeVar("Outcome", bound=RunOutcome)


def measure(
    start: Callable[[Settings, Store, RequestBar], Outcome],
    fmt: str = "text",
    output: Path | None = None,
) -> Outcome:
    """The one shape of a command that measures: run `start` under the progress bar (a signal names
    the run it kept), then show the stored run through `dyno report`'s renderer, to `output` if given."""
    from dyno.report.show import show_run

    s = settings()
    with Store(s.db_path) as store:
        with stored_on_interrupt(), RequestBar.on(err_console) as bar:
            result = start(s, store, bar)
        with writer(output) as write:
            show_run(store, result.run_id, fmt, console, write)
    return result
