"""The server's load gauges sampled once a second while a scenario runs: why a level stops scaling.

Two scrapes (before, after) tell what a counter did over a scenario; they cannot
tell that requests queued behind the server's batch limit for the last half of
it, or that the KV cache filled and the engine preempted. A sampler reads
/metrics every `period_s` and keeps what answers that:

- requests running and waiting: vLLM `vllm:num_requests_running` /
  `vllm:num_requests_waiting`; llama-server `llamacpp:requests_processing` /
  `llamacpp:requests_deferred`;
- KV-cache usage (vLLM `vllm:kv_cache_usage_perc`, 0..1);
- preemptions so far (vLLM `vllm:num_preemptions_total`).

The fetch and the parse run in a thread: parsing a vLLM exposition holds a
thread for milliseconds, which on the event loop would land in the client's
TTFT and ITL (the scenario's loop-lag figure would show it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from dyno.metrics.prom import Name, Scrape, parse

RUNNING: Name = ("vllm:num_requests_running", "llamacpp:requests_processing")
WAITING: Name = ("vllm:num_requests_waiting", "llamacpp:requests_deferred")
KV_USAGE: Name = "vllm:kv_cache_usage_perc"
PREEMPTIONS: Name = "vllm:num_preemptions_total"
FIELDS = ("running", "waiting", "kv_usage", "preemptions")


@dataclass
class Series:
    """Samples in time order; `t_s` from the series' own start. None where the server has no such gauge."""

    t_s: list[float] = field(default_factory=list)
    running: list[float | None] = field(default_factory=list)
    waiting: list[float | None] = field(default_factory=list)
    kv_usage: list[float | None] = field(default_factory=list)
    preemptions: list[float | None] = field(default_factory=list)

    def add(self, t_s: float, s: Scrape) -> None:
        self.t_s.append(round(t_s, 3))
        for name, metric in zip(FIELDS, (RUNNING, WAITING, KV_USAGE, PREEMPTIONS), strict=True):
            getattr(self, name).append(s.total(metric))

    def as_json(self) -> dict[str, list[Any]]:
        return {"t_s": self.t_s, **{f: getattr(self, f) for f in FIELDS}}

    @classmethod
    def from_json(cls, doc: dict[str, Any] | None) -> Series:
        doc = doc or {}
        return cls(list(doc.get("t_s") or []), *(list(doc.get(f) or []) for f in FIELDS))

    def peak(self, name: str) -> float | None:
        vals = [v for v in getattr(self, name) if v is not None]
        return max(vals) if vals else None

    def mean(self, name: str) -> float | None:
        vals = [v for v in getattr(self, name) if v is not None]
        return sum(vals) / len(vals) if vals else None

    def grew(self, name: str) -> float | None:
        """Last - first: what a counter (preemptions) did over the series."""
        vals = [v for v in getattr(self, name) if v is not None]
        return vals[-1] - vals[0] if len(vals) >= 2 else None

    def __len__(self) -> int:
        return len(self.t_s)


class Sampler:
    """Samples `fetch` every `period_s` into `series`; `now()` adds one at once (a probe that has just
    decided, while its load is still in flight, which a short probe's period would miss)."""

    def __init__(self, fetch: Callable[[], str | None], period_s: float) -> None:
        self.series = Series()
        self._fetch = fetch
        self._period_s = period_s
        self._t0 = time.monotonic()
        self._extra: set[asyncio.Task[None]] = set()

    def _one(self) -> Scrape | None:
        text = self._fetch()
        return None if text is None else parse(text, time.perf_counter_ns())

    async def _sample(self) -> None:
        started = time.monotonic()
        s = await asyncio.to_thread(self._one)
        if s is not None and s.error is None:
            self.series.add(started - self._t0, s)

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await self._sample()
            await asyncio.sleep(max(0.0, self._period_s - (time.monotonic() - started)))

    def now(self) -> None:
        task = asyncio.get_running_loop().create_task(self._sample())
        self._extra.add(task)
        task.add_done_callback(self._extra.discard)

    async def settle(self) -> None:
        """Wait for the samples `now()` asked for (in time order: the series is sorted after)."""
        if self._extra:
            await asyncio.gather(*self._extra, return_exceptions=True)
        order = sorted(range(len(self.series.t_s)), key=self.series.t_s.__getitem__)
        for f in ("t_s", *FIELDS):
            vals = getattr(self.series, f)
            setattr(self.series, f, [vals[i] for i in order])


@contextlib.asynccontextmanager
async def sampling(fetch: Callable[[], str | None], period_s: float = 1.0) -> AsyncIterator[Sampler]:
    """`async with sampling(endpoint.metrics_text) as s:` samples until the block ends; `s.series`.

    A server without /metrics leaves the series empty; a scrape that fails is skipped."""
    sampler = Sampler(fetch, period_s)
    task = asyncio.create_task(sampler.run())
    try:
        yield sampler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sampler.settle()
