"""The progress bar a measuring command shows over its planned requests, with an ETA."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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

    @classmethod
    @contextmanager
    def on(cls, console: Console) -> Iterator[RequestBar]:
        """A bar on `console` (stderr: stdout holds only the report), gone when the run ends."""
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            yield cls(progress)
