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
from dataclasses import dataclass

from dyno.bench.execute import Job, sustain
from dyno.bench.scenario import BenchContext
from dyno.bench.scenarios import Workload
from dyno.bench.slo import SLO
from dyno.capacity.search import ProbeVerdict
from dyno.capacity.sequential import Boundaries
from dyno.client import RequestRecord
from dyno.metrics.series import Series, sampling
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
class _Tally:
    judged: int = 0
    conforming: int = 0
    ramp: int = 0
    drain: int = 0
    verdict: ProbeVerdict | None = None


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
    t = _Tally()

    async def send(job: Job, intended: int) -> RequestRecord:
        rec = await ctx.client.generate(job.request)
        if job.seq < ramp:
            label, t.ramp = f"{level}/ramp", t.ramp + 1
        elif t.verdict is not None:
            label, t.drain = f"{level}/drain", t.drain + 1
        else:
            label = judged_label(level)
            t.judged += 1
            t.conforming += slo.conforms(rec)
            t.verdict = bounds.decide(t.conforming, t.judged)
            if t.verdict is not None:
                sampler.now()  # the load as it stood when the level was decided
        stored = await ctx.record(rec.tagged(SCENARIO, label, job.seq, intended_ns=intended))
        if not stored.ok:
            ctx.run.forgive(stored)  # an error under load is an SLO miss, measured: not a failed run
        return stored

    await ctx.client.warm(min(level, 64))
    cpu0, wall0 = time.process_time(), time.monotonic()
    async with sampling(ctx.endpoint.metrics_text, sample_period_s) as sampler:
        await sustain(jobs, level, send, max_seconds, stop=lambda: t.verdict is not None)
    seconds = time.monotonic() - wall0
    cpu = (time.process_time() - cpu0) / max(seconds, 1e-9)
    verdict: ProbeVerdict = t.verdict or "indeterminate"
    if t.verdict is not None and t.verdict != "indeterminate":
        why = f"decided after {t.judged} judged requests"
    elif t.judged >= bounds.cap:
        why = f"undecided at the cap of {bounds.cap} requests"
    else:
        why = f"undecided when the probe's {max_seconds:g} s ran out ({t.judged} judged)"
    if verdict != "pass" and cpu >= CLIENT_BOUND_CPU:
        # The client used most of a core: its own lateness may be what missed the SLO.
        verdict, why = "client_bound", f"{why}; dyno used {cpu:.0%} of a core, so the level is no bound"
    return ProbeResult(
        level, verdict, t.judged, t.conforming, t.ramp, t.drain, seconds, cpu, sampler.series, why
    )
