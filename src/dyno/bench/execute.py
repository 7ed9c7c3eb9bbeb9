"""Carry out a load: jobs sent with N slots kept busy, or each at its intended time.

The same code runs in dyno's own event loop and in each worker process
(bench/workers.py), so a load means the same thing with one process or many.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from dyno.client import GenRequest, RequestRecord

EARLY_WAKE_NS = 2_000_000  # uvloop's timers fire up to ~1 ms early: sleep short of the mark, then yield


@dataclass(frozen=True)
class Job:
    """One request of a load, with its tags. `due_ns`: when a rate load means it to leave, counted from
    the load's start (fixed before anything is sent); None for a sustained load, where a job is due the
    moment a slot frees."""

    request: GenRequest
    scenario: str
    label: str
    seq: int
    due_ns: int | None = None


Send = Callable[[Job, int], Awaitable[RequestRecord]]  # (job, intended_ns) -> the stored record


@asynccontextmanager
async def task_group() -> AsyncIterator[asyncio.TaskGroup]:
    """A TaskGroup that fails with the first exception its tasks raised, not an ExceptionGroup.

    A load's tasks fail together when the server dies (each raises ServerGone); the runner must see
    that ServerGone to keep the run's finished requests and mark it partial. Wrapped in a group it
    read as a broken scenario and the run as complete.
    """
    first: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as tg:
            yield tg
    except BaseExceptionGroup as group:
        first = group
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
    if first is not None:
        # Raised outside the handler, so it is not chained to the group that holds it (a cycle).
        raise first


async def sleep_until_ns(t_ns: int) -> None:
    """Return at perf_counter_ns() >= t_ns, never before (a request must not leave before it is due)."""
    while (left := t_ns - time.perf_counter_ns()) > 0:
        await asyncio.sleep((left - EARLY_WAKE_NS) / 1e9 if left > EARLY_WAKE_NS else 0)


async def sustain(
    jobs: Sequence[Job],
    slots: int,
    send: Send,
    deadline_s: float | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Keep `slots` requests in flight until the jobs (or the time) run out, or `stop()` says so
    (a capacity probe that has decided); requests already in flight finish and are stored."""
    order = itertools.count()
    deadline = None if deadline_s is None else time.monotonic() + deadline_s

    async def slot() -> None:
        while not stop() and (i := next(order)) < len(jobs):
            if deadline is not None and time.monotonic() >= deadline:
                return
            # A closed loop: the request is due the moment its slot is free.
            await send(jobs[i], time.perf_counter_ns())

    async with task_group() as tg:
        for _ in range(slots):
            tg.create_task(slot())


async def on_schedule(jobs: Sequence[Job], max_in_flight: int, send: Send, t0_ns: int) -> None:
    """Send each job at t0 + its due time, however the server keeps up (at most `max_in_flight` at once;
    a job that waits for room is late, and its dispatch delay says so)."""
    gate = asyncio.Semaphore(max_in_flight)

    async def one(job: Job, intended: int) -> None:
        async with gate:
            await send(job, intended)

    async with task_group() as tg:
        for job in jobs:
            intended = t0_ns + (job.due_ns or 0)
            await sleep_until_ns(intended)
            tg.create_task(one(job, intended))
