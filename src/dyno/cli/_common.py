"""Shared CLI helpers: console, settings, duration formatting, a start-up progress display."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

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
from rich.status import Status

from dyno.engine.supervisor import ProgressFn
from dyno.settings import Settings

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    return Settings.from_env()


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
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


@dataclass
class StepDisplay:
    """A spinner for a multi-step job: each step is printed once and shown while it runs."""

    status: Status
    t0: float

    def step(self, message: str) -> None:
        console.print(f"[dim]{time.monotonic() - self.t0:6.1f}s[/] {escape(message)}", highlight=False)
        self.status.update(escape(message) + " ...")

    def engine_progress(self, elapsed_s: float, last_line: str) -> None:
        self.status.update(f"starting vLLM ... {elapsed_s:4.0f} s  [dim]{escape(last_line[:90])}[/]")


@contextmanager
def steps(first: str) -> Iterator[StepDisplay]:
    with console.status(escape(first) + " ...") as status:
        yield StepDisplay(status, time.monotonic())


class RequestBar:
    """A progress bar over a run's planned requests, with ETA (bench's and verify's progress hooks)."""

    def __init__(self, progress: Progress) -> None:
        self.p = progress
        self.task = progress.add_task("starting", total=None)

    def begin(self, total_requests: int) -> None:
        self.p.update(self.task, total=total_requests)

    def scenario(self, name: str) -> None:
        self.p.update(self.task, description=escape(name))

    def side(self, label: str, what: str) -> None:
        self.p.update(self.task, description=escape(f"{label}: {what}"))

    def advance(self, n: int) -> None:
        self.p.advance(self.task, n)

    def step(self, message: str) -> None:
        self.p.console.print(escape(message), highlight=False)

    def engine_progress(self, elapsed_s: float, _last_line: str) -> None:
        self.p.update(self.task, description=f"starting vLLM ... {elapsed_s:.0f} s")


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
