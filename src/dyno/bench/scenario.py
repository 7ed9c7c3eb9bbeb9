"""What every scenario gets (a BenchContext) and gives back (raw rows, then a summary).

A scenario is a small strategy object with two halves:
- `run(ctx)` sends requests through the context, which stores each one as it
  finishes, and scrapes /metrics where the scenario needs counter deltas;
- `summarize(data)` derives the figures from the stored rows alone, so a run
  re-rendered next year gives the same numbers.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol

from dyno.bench.execute import Job, on_schedule, sustain
from dyno.bench.figures import figure
from dyno.bench.stats import Summary
from dyno.bench.workers import run_on_workers
from dyno.client import Endpoint, GenRequest, RequestRecord, StreamClient
from dyno.client.loop import LoopLag
from dyno.metrics import Scrape
from dyno.store import RunRecorder
from dyno.workloads.synthetic import PromptTokenizer

START_MARGIN_NS = 5_000_000  # a rate load's first request is due this long after the load starts

# A request that failed like this makes us ask whether the server is still there.
_SUSPECT = {"connect", "stream_broken", "timeout", "http"}


class ServerGone(Exception):
    """The endpoint stopped answering in the middle of a run."""


@dataclass
class BenchContext:
    """What a scenario runs against; every request and scrape goes to the run's recorder as it happens."""

    client: StreamClient
    endpoint: Endpoint
    model: str
    max_model_len: int
    tokenizer: PromptTokenizer
    run: RunRecorder
    run_salt: str
    advance: Callable[[int], None] = lambda _n: None
    workers: int = 1  # processes a load is spread over (bench/workers.py)
    lag: LoopLag = field(default_factory=LoopLag)  # the running scenario's; scrapes pause it
    _salts: itertools.count[int] = field(default_factory=itertools.count)

    def salt(self) -> str:
        """A run-unique tag to put first in a prompt, so no prefix cache can serve it."""
        return f"{self.run_salt}-{next(self._salts)}"

    async def generate(
        self, req: GenRequest, *, scenario: str, label: str, seq: int = 0, intended_ns: int | None = None
    ) -> RequestRecord:
        rec = (await self.client.generate(req)).tagged(scenario, label, seq, intended_ns=intended_ns)
        return await self.record(rec)

    async def record(self, rec: RequestRecord) -> RequestRecord:
        """Store a finished request (sent here or by a worker), count it, and ask whether the
        server is still there when it failed the way a dead server makes requests fail."""
        self.run.record(rec)
        self.advance(1)
        if rec.error_kind in _SUSPECT and not await asyncio.to_thread(self.endpoint.healthy):
            raise ServerGone(
                f"{self.endpoint.base_url} stopped answering ({rec.error_kind}: {rec.error_message})"
            )
        return rec

    async def run_jobs(
        self, jobs: Sequence[Job], *, mode: str, slots: int, deadline_s: float | None = None
    ) -> None:
        """A load: `slots` requests kept in flight (mode `concurrent`), or each job at its intended time
        with at most `slots` in flight (mode `rate`); over worker processes when the run has them."""
        if self.workers > 1:
            await run_on_workers(
                jobs,
                workers=self.workers,
                mode=mode,
                slots=slots,
                deadline_s=deadline_s,
                url=self.client.base_url,
                api_key=self.client.api_key,
                config=self.client.config,
                store=self.record,
            )
            return

        async def send(job: Job, intended: int) -> RequestRecord:
            rec = await self.client.generate(job.request)
            return await self.record(rec.tagged(job.scenario, job.label, job.seq, intended_ns=intended))

        if mode == "concurrent":
            await sustain(jobs, slots, send, deadline_s)
        else:
            await on_schedule(jobs, slots, send, time.perf_counter_ns() + START_MARGIN_NS)

    async def scrape(self, scenario: str, label: str) -> Scrape | None:
        # Parsing a scrape holds the loop for milliseconds while no request is timed
        with self.lag.paused():
            return await self.run.scrape(self.endpoint, scenario, label)

    def chat(self, text: str, max_tokens: int, *, fixed: bool = False, **kw: Any) -> GenRequest:
        """A greedy chat request; `fixed` asks the server to ignore EOS and produce exactly max_tokens."""
        return GenRequest.user(self.model, text, max_tokens, ignore_eos=fixed, **kw)


@dataclass(frozen=True)
class ScenarioOutcome:
    status: str = "complete"  # complete | skipped | failed | partial
    notes: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioData:
    """One scenario of a stored run: everything needed to derive its figures."""

    name: str
    status: str
    config: dict[str, Any]
    notes: list[str]
    facts: dict[str, Any]
    requests: list[RequestRecord]
    scrapes: dict[str, Scrape]  # label -> parsed scrape

    def by_label(self, *, ok_only: bool = True) -> dict[str, list[RequestRecord]]:
        out: dict[str, list[RequestRecord]] = {}
        for r in self.requests:
            if r.label == "warmup" or (ok_only and not r.ok):
                continue
            out.setdefault(r.label, []).append(r)
        return out

    def by_level(self) -> list[tuple[str, list[RequestRecord]]]:
        """The answered requests per numeric label (a length, a size, a concurrency), in numeric order."""
        groups = self.by_label()
        return [(label, groups[label]) for label in sorted(groups, key=int)]


@dataclass(frozen=True)
class ResultRow:
    """One figure: the record every printer (md, csv, json, terminal, html) renders.

    `metric` is a stable id from bench.figures (`decode_tok_s`); its title and
    unit are looked up there. `ceiling_tok_s` is the roofline for a decode
    figure, when the run's hardware and model are known.
    """

    scenario: str
    label: str
    metric: str
    unit: str
    n: int
    mean: float | None
    std: float | None = None
    median: float | None = None
    min: float | None = None
    max: float | None = None
    p90: float | None = None
    p99: float | None = None
    ceiling_tok_s: float | None = None
    samples: tuple[float, ...] = field(default=(), repr=False, compare=False)  # for intervals; not rendered
    interval: tuple[float, float] | None = None  # a proportion's 95% interval (SLO attainment: Wilson)
    ceiling_why: str | None = None  # why the ceiling is under the bandwidth bound (compute-bound on this CPU)

    @property
    def title(self) -> str:
        return figure(self.metric).title

    def as_dict(self) -> dict[str, Any]:
        """The row as printers show it: every field but the samples."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "samples"} | {
            "title": self.title
        }

    @classmethod
    def of(cls, scenario: str, label: str, metric: str, s: Summary | None) -> ResultRow | None:
        if s is None:
            return None
        unit = figure(metric).unit
        return cls(
            scenario,
            label,
            metric,
            unit,
            s.n,
            s.mean,
            s.std,
            s.median,
            s.min,
            s.max,
            s.p90,
            s.p99,
            None,
            s.sample,
        )

    @classmethod
    def scalar(
        cls, scenario: str, label: str, metric: str, value: float | None, n: int = 1
    ) -> ResultRow | None:
        return None if value is None else cls(scenario, label, metric, figure(metric).unit, n, value)


@dataclass(frozen=True)
class ScenarioSummary:
    rows: list[ResultRow]
    notes: list[str]


def keep(*rows: ResultRow | None) -> list[ResultRow]:
    return [r for r in rows if r is not None]


class Scenario(Protocol):
    name: ClassVar[str]

    def config(self) -> dict[str, Any]: ...
    def planned_requests(self, max_model_len: int) -> int: ...
    async def run(self, ctx: BenchContext) -> ScenarioOutcome: ...

    @staticmethod
    def summarize(data: ScenarioData) -> ScenarioSummary: ...
