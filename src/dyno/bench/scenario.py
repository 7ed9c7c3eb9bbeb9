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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from dyno.bench.figures import figure
from dyno.bench.stats import Summary
from dyno.bench.tally import Tally
from dyno.client import Endpoint, GenRequest, RequestRecord, StreamClient
from dyno.metrics import Scrape, parse
from dyno.store.sink import RunSink
from dyno.workloads.synthetic import PromptTokenizer

# A request that failed like this makes us ask whether the server is still there.
_SUSPECT = {"connect", "stream_broken", "timeout", "http"}


class ServerGone(Exception):
    """The endpoint stopped answering in the middle of a run."""


async def scrape_into(
    sink: RunSink, run_id: int, endpoint: Endpoint, scenario: str, label: str
) -> Scrape | None:
    """Scrape /metrics, store the raw text with the run, and return it parsed (None: no /metrics)."""
    text = await asyncio.to_thread(endpoint.metrics_text)
    if text is None:
        return None
    t = time.perf_counter_ns()
    sink.add_scrape(run_id, scenario, label, t, text)
    return parse(text, t)


@dataclass
class BenchContext:
    """What a scenario runs against; every request and scrape goes to the sink as it happens."""

    client: StreamClient
    endpoint: Endpoint
    model: str
    max_model_len: int
    tokenizer: PromptTokenizer
    sink: RunSink
    run_id: int
    run_salt: str
    advance: Callable[[int], None] = lambda _n: None
    tally: Tally = field(default_factory=Tally)
    requests_stored: int = 0
    _salts: itertools.count[int] = field(default_factory=itertools.count)

    def salt(self) -> str:
        """A run-unique tag to put first in a prompt, so no prefix cache can serve it."""
        return f"{self.run_salt}-{next(self._salts)}"

    async def generate(self, req: GenRequest, *, scenario: str, label: str, seq: int = 0) -> RequestRecord:
        rec = (await self.client.generate(req)).tagged(scenario, label, seq)
        self.sink.add_request(self.run_id, rec)
        self.tally.add(rec)
        self.requests_stored += 1
        self.advance(1)
        if rec.error_kind in _SUSPECT and not await asyncio.to_thread(self.endpoint.healthy):
            raise ServerGone(
                f"{self.endpoint.base_url} stopped answering ({rec.error_kind}: {rec.error_message})"
            )
        return rec

    async def scrape(self, scenario: str, label: str) -> Scrape | None:
        return await scrape_into(self.sink, self.run_id, self.endpoint, scenario, label)

    def chat(self, text: str, max_tokens: int, *, fixed: bool = False, **kw: Any) -> GenRequest:
        """A greedy chat request; `fixed` asks the server to ignore EOS and produce exactly max_tokens."""
        return GenRequest(
            self.model,
            ({"role": "user", "content": text},),
            max_tokens=max_tokens,
            temperature=0.0,
            ignore_eos=fixed,
            **kw,
        )


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

    @property
    def title(self) -> str:
        return figure(self.metric).title

    @classmethod
    def of(cls, scenario: str, label: str, metric: str, s: Summary | None) -> ResultRow | None:
        if s is None:
            return None
        unit = figure(metric).unit
        return cls(scenario, label, metric, unit, s.n, s.mean, s.std, s.median, s.min, s.max, s.p90, s.p99)

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
