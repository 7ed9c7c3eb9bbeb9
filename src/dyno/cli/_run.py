"""How a command that runs something shows it and ends: the progress bar, the run a signal kept,
the stored run rendered, and one exit (`finish`) from the run's `RunOutcome`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dyno import signals
from dyno.cli._common import console, err_console, settings, writer
from dyno.settings import Settings
from dyno.store import RunOutcome, Store, stored_runs


class RequestBar:
    """A progress bar over a run's planned requests, with ETA, on stderr (so stdout holds only
    the report); also bench's, demo's and verify's step and engine start-up hooks."""

    def __init__(self, progress: Progress) -> None:
        self.p = progress
        self.task = progress.add_task("starting", total=None)
        self.t0 = time.monotonic()

    def begin(self, total_requests: int) -> None:
        self.p.update(self.task, total=total_requests)

    def scenario(self, name: str) -> None:
        self.p.update(self.task, description=escape(name))

    def side(self, label: str, what: str) -> None:
        self.p.update(self.task, description=escape(f"{label}: {what}"))

    def advance(self, n: int) -> None:
        self.p.advance(self.task, n)

    def step(self, message: str) -> None:
        self.p.console.print(f"[dim]{time.monotonic() - self.t0:6.1f}s[/] {escape(message)}", highlight=False)
        self.p.update(self.task, description=escape(message))

    def hooks(self) -> dict[str, Any]:
        """What a runner takes to show its progress: `run_x(..., **bar.hooks())`."""
        return {"progress": self, "step": self.step, "on_engine_progress": self.engine_progress}

    def engine_progress(self, elapsed_s: float, last_line: str) -> None:
        self.p.update(
            self.task,
            description=f"starting the engine ... {elapsed_s:.0f} s  [dim]{escape(last_line[:60])}[/]",
        )


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


@contextmanager
def request_progress() -> Iterator[RequestBar]:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as progress:
        yield RequestBar(progress)


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
        with stored_on_interrupt(), request_progress() as bar:
            result = start(s, store, bar)
        with writer(output) as write:
            show_run(store, result.run_id, fmt, console, write)
    return result
