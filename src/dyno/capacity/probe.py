"""One capacity probe: a sustained concurrency held until its attainment is decided.

`level` requests are kept in flight (a freed slot sends the next at once, as
`vllm bench serve --max-concurrency` and GuideLLM's concurrent profile do).
After every finished request the sequential test (capacity/sequential.py)
says pass, fail or go on; once it has decided, no new request starts, and the
ones still in flight finish and are stored.

Which requests are judged: the steady state only, where `level` requests are
in flight. The first `level - 1` sent ramp the load up (fewer were in flight
when they started) and the ones still running at the decision drain it; both
are stored under their own labels (`4/ramp`, `4/drain`) and counted, never
judged. A failed request is judged and counts against: a server that answers
503 under load does not meet anyone's SLO.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from dyno.bench.execute import Job, sustain
from dyno.bench.scenario import BenchContext
from dyno.bench.scenarios import Workload
from dyno.bench.slo import SLO
from dyno.capacity.search import ProbeVerdict
from dyno.capacity.sequential import Boundaries
from dyno.client import GenRequest, RequestRecord
from dyno.metrics.series import Sampler, Series, sampling
from dyno.workloads.prefixes import PrefixPlan

SCENARIO = "probe"
CLIENT_BOUND_CPU = 0.9  # dyno's own share of a core above which its timing is its own, not the server's


def judged_label(level: int) -> str:
    return str(level)


@dataclass(frozen=True)
class ProbeResult:
    level: int
    verdict: ProbeVerdict
    judged: int
    conforming: int
    ramp: int  # requests sent before `level` were in flight: stored, not judged
    drain: int  # requests still in flight at the decision: stored, not judged
    seconds: float
    client_cpu_fraction: float
    series: Series
    why: str  # how it was decided ("decided after 77 requests", "request cap", "time cap")


@dataclass
class ProbeTally:
    """A probe's running count; `label` files each finished request and judges the steady ones."""

    level: int
    slo: SLO
    bounds: Boundaries
    sampler: Sampler | None = None
    judged: int = 0
    conforming: int = 0
    ramp: int = 0
    drain: int = 0
    verdict: ProbeVerdict | None = None
    seconds: float = 0.0
    cpu: float = 0.0  # dyno's own share of a core while the load ran

    def label(self, rec: RequestRecord, ramping: bool) -> str:
        if ramping:
            self.ramp += 1
            return f"{self.level}/ramp"
        if self.verdict is not None:
            self.drain += 1
            return f"{self.level}/drain"
        self.judged += 1
        self.conforming += self.slo.conforms(rec)
        self.verdict = self.bounds.decide(self.conforming, self.judged)
        if self.verdict is not None and self.sampler is not None:
            self.sampler.now()  # the load as it stood when the level was decided
        return judged_label(self.level)

    async def store(
        self, ctx: BenchContext, req: GenRequest, seq: int, intended: int, *, ramping: bool
    ) -> RequestRecord:
        """Send one request of the load, file it (ramp, judged or drain) and store it."""
        rec = await ctx.client.generate(req)
        label = self.label(rec, ramping)
        stored = await ctx.record(rec.tagged(SCENARIO, label, seq, intended_ns=intended))
        if not stored.ok:
            ctx.run.forgive(stored)  # an error under load is an SLO miss, measured: not a failed run
        return stored

    @asynccontextmanager
    async def measuring(self, ctx: BenchContext, sample_period_s: float) -> AsyncIterator[None]:
        """The probe's load runs inside: connections warmed first, /metrics sampled throughout,
        and its wall time and dyno's CPU share kept for `result`."""
        await ctx.client.warm(min(self.level, 64))
        cpu0, wall0 = time.process_time(), time.monotonic()
        async with sampling(ctx.endpoint.metrics_text, sample_period_s) as sampler:
            self.sampler = sampler
            yield
        self.seconds = time.monotonic() - wall0
        self.cpu = (time.process_time() - cpu0) / max(self.seconds, 1e-9)

    def result(self, max_seconds: float) -> ProbeResult:
        seconds, cpu = self.seconds, self.cpu
        series = self.sampler.series if self.sampler is not None else Series()
        verdict: ProbeVerdict = self.verdict or "indeterminate"
        if self.verdict is not None and self.verdict != "indeterminate":
            why = f"decided after {self.judged} judged requests"
        elif self.judged >= self.bounds.cap:
            why = f"undecided at the cap of {self.bounds.cap} requests"
        else:
            why = f"undecided when the probe's {max_seconds:g} s ran out ({self.judged} judged)"
        if verdict != "pass" and cpu >= CLIENT_BOUND_CPU:
            # The client used most of a core: its own lateness may be what missed the SLO.
            verdict, why = "client_bound", f"{why}; dyno used {cpu:.0%} of a core, so the level is no bound"
        return ProbeResult(
            self.level,
            verdict,
            self.judged,
            self.conforming,
            self.ramp,
            self.drain,
            seconds,
            cpu,
            series,
            why,
        )


async def run_probe(
    ctx: BenchContext,
    level: int,
    slo: SLO,
    bounds: Boundaries,
    workload: Workload,
    *,
    rng: random.Random,
    max_seconds: float,
    prefixes: PrefixPlan | None = None,
    sample_period_s: float = 1.0,
) -> ProbeResult:
    ramp = level - 1
    reqs = await workload.make_requests(ctx, ramp + bounds.cap, rng, prefixes)
    jobs = [Job(r, SCENARIO, judged_label(level), i) for i, r in enumerate(reqs)]
    t = ProbeTally(level, slo, bounds)

    async def send(job: Job, intended: int) -> RequestRecord:
        return await t.store(ctx, job.request, job.seq, intended, ramping=job.seq < ramp)

    async with t.measuring(ctx, sample_period_s):
        await sustain(jobs, level, send, max_seconds, stop=lambda: t.verdict is not None)
    return t.result(max_seconds)
