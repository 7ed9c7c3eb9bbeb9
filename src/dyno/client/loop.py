"""The event loop measurements run on, and how late it is.

uvloop where it is installed (its loop does less per I/O event than
asyncio's, which is time that otherwise lands between a chunk's arrival and
its timestamp). `LoopLag` samples how late a short sleep wakes up: when the
loop is that busy, every timestamp taken on it is that late too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from array import array
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's, unless DYNO_EVENT_LOOP=asyncio asks for the standard one (to compare the two)."""
    if os.environ.get("DYNO_EVENT_LOOP") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name() -> str:
    return "uvloop" if loop_factory() is not None else "asyncio"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is there. Ctrl-C cancels the coroutine as asyncio.run does."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coro)


class LoopLag:
    """Samples the event loop's lag: how much later than asked a `period_s` sleep returns.

    Work that holds the loop while nothing is timed (parsing a /metrics scrape between
    batches) runs under `paused()`: a sample that overlaps it is dropped, so the lag
    reported is the lag a request's timestamps can have suffered.
    """

    def __init__(self, period_s: float = 0.005) -> None:
        self.period_s = period_s
        self.samples_ms = array("d")
        self._paused = False
        self._pauses = 0  # bumped when a pause ends: a sample spanning one is not kept

    async def run(self) -> None:
        while True:
            pauses = self._pauses
            t = time.perf_counter()
            await asyncio.sleep(self.period_s)
            if pauses == self._pauses and not self._paused:
                self.samples_ms.append(max(0.0, (time.perf_counter() - t - self.period_s) * 1000))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
            self._pauses += 1

    def quantile_ms(self, q: float) -> float | None:
        if len(self.samples_ms) < 2:
            return None
        return statistics.quantiles(self.samples_ms, n=100, method="inclusive")[int(q * 100) - 1]
