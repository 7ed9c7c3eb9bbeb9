"""A capacity probe of concurrent users: `level` people (or agents) each in a conversation.

Where a stream probe keeps `level` independent requests in flight, a user probe keeps `level`
sessions going (bench/scenarios/sessions.py): a user sends a turn, waits for the reply (and
their think time), sends the next with the whole history; a user whose session ends (its turns
done, or the history no longer fits the context) starts a new one at once. So the load is the
one a chat or coding-agent deployment sees: a prompt that grows turn by turn, a prefix cache
that serves the history, a tool result sent back the moment a call comes.

Every turn is one request, judged against the SLO as it finishes. The users' first turns are the
ramp (stored as `N/ramp`, not judged): they all leave at the same instant, a burst no steady
state has. Once the sequential test decides, no new turn starts; the turns in flight drain.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from dyno.bench.execute import task_group
from dyno.bench.scenario import BenchContext
from dyno.bench.scenarios.features import tools_refused
from dyno.bench.scenarios.sessions import SessionDraw, Sessions, SessionTally
from dyno.bench.slo import SLO
from dyno.capacity.probe import SCENARIO, ProbeResult, ProbeTally
from dyno.capacity.sequential import Boundaries
from dyno.client import GenRequest, RequestRecord


async def warm_users(ctx: BenchContext, sessions: Sessions, draw: SessionDraw) -> str:
    """One session's first turn, stored as the warmup; for agent sessions it is also the test that
    the server calls tools at all: "" when it does, else what to start it with."""
    tally = SessionTally()
    sent: list[RequestRecord] = []

    async def send(req: GenRequest, s: int, k: int, intended: int) -> RequestRecord:
        rec = (await ctx.client.generate(req)).tagged(SCENARIO, "warmup", s, intended_ns=intended)
        sent.append(rec)
        return await ctx.record(rec)

    plan = await sessions.draw(ctx, draw, -1)
    await sessions.session(ctx, -1, plan, time.perf_counter_ns(), tally, send=send, stop=lambda: bool(sent))
    return tools_refused(ctx, tally.refused[0]).notes[0] if tally.refused else ""


async def run_users_probe(
    ctx: BenchContext,
    level: int,
    slo: SLO,
    bounds: Boundaries,
    sessions: Sessions,
    draw: SessionDraw,
    numbering: Iterator[int],
    *,
    max_seconds: float,
    sample_period_s: float = 1.0,
) -> ProbeResult:
    """`level` users until the sequential test decides; `numbering` gives each session of the
    search its own number (its rows' `seq`), so no two probes' sessions share one."""
    t = ProbeTally(level, slo, bounds)
    tally = SessionTally()
    starts = [next(numbering) for _ in range(level)]
    ramp = set(starts)  # each user's first turn
    deadline = time.monotonic() + max_seconds

    def stop() -> bool:
        return t.verdict is not None or t.judged >= bounds.cap or time.monotonic() >= deadline

    async def send(req: GenRequest, s: int, k: int, intended: int) -> RequestRecord:
        return await t.store(ctx, req, s, intended, ramping=k == 0 and s in ramp)

    async def user(s: int) -> None:
        while not stop() and not tally.refused:
            plan = await sessions.draw(ctx, draw, s)
            await sessions.session(ctx, s, plan, time.perf_counter_ns(), tally, send=send, stop=stop)
            s = next(numbering)

    async with t.measuring(ctx, sample_period_s), task_group() as tg:
        for s in starts:
            tg.create_task(user(s))
    return t.result(max_seconds)
