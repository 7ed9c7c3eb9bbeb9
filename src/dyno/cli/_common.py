"""Shared CLI helpers: console, settings, duration formatting, a start-up progress display."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
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
from dyno.engine.supervisor import ProgressFn
from dyno.settings import Settings
from dyno.store import RunOutcome, Store, stored_runs

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    return Settings.from_env()


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:  # llama-server is up in a fraction of a second: "0s" would say nothing
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


@contextmanager
def startup_progress(what: str) -> Iterator[ProgressFn]:
    """A spinner with elapsed time and the engine's latest log line."""
    with console.status(f"starting {what} ...") as status:

        def update(elapsed_s: float, last_line: str) -> None:
            status.update(f"starting {escape(what)} ... {elapsed_s:4.0f} s  [dim]{escape(last_line[:90])}[/]")

        yield update


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


def max_error_rate_option() -> Any:  # a typer OptionInfo, used as a parameter default
    return typer.Option(
        0.0,
        "--max-error-rate",
        min=0.0,
        max=1.0,
        help="Fraction of measured requests that may fail before the exit code says so (0: none).",
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
def writer(path: Path | None) -> Iterator[Callable[[str], object]]:
    """Where a rendering goes: stdout, or a file written whole (so a failed render leaves no half page)."""
    if path is None:
        yield sys.stdout.write
        return
    parts: list[str] = []
    yield parts.append
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text("".join(parts))
    tmp.replace(path)


@contextmanager
def exits_on_signal(what_happened: str) -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP: say what was done about it, exit 128 + the signal number."""
    try:
        yield
    except KeyboardInterrupt as e:
        err_console.print(f"[yellow]{escape(signals.describe(e))}[/]: {escape(what_happened)}")
        raise typer.Exit(signals.exit_code(e)) from None


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
