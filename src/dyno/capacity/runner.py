"""`dyno capacity`: the most concurrent load a server carries within the user's SLO, found and stored.

One run of kind `capacity` on the run recorder: one scenario row per probe
(its level in the config; verdict, reason, seconds and the /metrics series in
its facts) and every request stored as it finishes. The answer, the limit and
the sentence are derived from those rows (capacity/result.py), so `dyno report`
of the run next year says the same.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from dyno.bench.runner import DEFINITIONS, BenchProgress, bench_context
from dyno.bench.scenario import ServerGone
from dyno.bench.scenarios import Workload
from dyno.bench.scenarios.sessions import AgentSessions, Sessions
from dyno.bench.slo import SLO
from dyno.capacity.probe import SCENARIO, ProbeResult, run_probe
from dyno.capacity.search import ProbeVerdict, answer, next_level
from dyno.capacity.sequential import boundaries
from dyno.capacity.users import run_users_probe, warm_users
from dyno.client import ClientConfig, loop
from dyno.engine import supervisor
from dyno.engine.target import Target, TargetSpec, open_target
from dyno.errors import UsageError
from dyno.settings import Settings
from dyno.store import RunOutcome, RunRecorder, RunSink, record_run
from dyno.workloads.dataset import Dataset
from dyno.workloads.prefixes import SharedPrefixes, plan_prefixes
from dyno.workloads.sessions import SessionSpec
from dyno.workloads.shapes import Lengths


@dataclass(frozen=True)
class CapacityOptions:
    slo: SLO
    attainment: float = 0.95  # the share of requests that must conform
    max_concurrency: int = 64
    start: int = 1
    input_tokens: Lengths | None = None
    output_tokens: Lengths | None = None
    dataset: Dataset | None = None  # the user's own prompts, as `dyno bench --dataset` sends them
    prefixes: SharedPrefixes | None = None  # synthetic prompts open with one of G shared prefixes
    seed: int = 0
    max_requests: int | None = None  # judged per probe before it is indeterminate (None: from the target)
    max_probe_s: float = 300.0
    sample_period_s: float = 1.0
    knee: bool = False  # fit the knee with fewer than 5 levels
    alpha: float = field(default=0.05)
    # Set: the levels are users in conversations (capacity/users.py), each through these turns.
    turns: Lengths | None = None
    think_time_s: float = 0.0
    tool_result_tokens: Lengths | None = None  # set: the users are agents (bench/scenarios/agent.py)
    tool_choice: str = "auto"

    def __post_init__(self) -> None:
        if not 0 < self.attainment < 1:
            raise UsageError(f"--attainment is a fraction between 0 and 1 (exclusive), not {self.attainment}")
        if self.start > self.max_concurrency:
            raise UsageError(f"--start {self.start} is above --max-concurrency {self.max_concurrency}")
        if self.dataset is not None and (self.prefixes is not None or self.input_tokens is not None):
            raise UsageError("--dataset brings its own prompts: leave out --input-tokens and --prefix-groups")
        if self.turns is None and (self.think_time_s or self.tool_result_tokens is not None):
            raise UsageError(
                "--think-time and --tool-result-tokens shape users' conversations: add --turns T "
                "(the levels are then users, each in a session of T turns)"
            )
        if self.tool_result_tokens is not None and self.dataset is not None:
            raise UsageError(
                "--tool-result-tokens runs agents on tasks the bundled tools answer; "
                "a --dataset brings its own conversations"
            )

    @property
    def unit(self) -> str:
        """What a level counts: streams (requests in flight) or users (conversations going)."""
        return "streams" if self.turns is None else "users"

    def sessions(self) -> Sessions | None:
        """The users' conversations when the levels are users; None for streams."""
        if self.turns is None:
            return None
        return (AgentSessions if self.tool_result_tokens else Sessions)(
            spec=SessionSpec(1, self.turns, self.think_time_s),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            dataset=self.dataset,
            prefixes=self.prefixes,
            seed=self.seed,
            warmup=0,
            tool_result_tokens=self.tool_result_tokens,
            tool_choice=self.tool_choice,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["slo"] = self.slo.specs()
        d["input_tokens"] = self.input_tokens.spec() if self.input_tokens else None
        d["output_tokens"] = self.output_tokens.spec() if self.output_tokens else None
        d["dataset"] = self.dataset.spec() if self.dataset else None
        d["prefixes"] = self.prefixes.spec() if self.prefixes else None
        d["turns"] = self.turns.spec() if self.turns else None
        d["tool_result_tokens"] = self.tool_result_tokens.spec() if self.tool_result_tokens else None
        d["unit"] = self.unit
        return d


@dataclass(frozen=True)
class CapacityOutcome(RunOutcome):
    url: str = ""


def run_capacity(
    settings: Settings,
    sink: RunSink,
    spec: TargetSpec,
    opts: CapacityOptions,
    *,
    progress: BenchProgress | None = None,
    step: Callable[[str], None] = lambda _m: None,
    on_engine_progress: supervisor.ProgressFn | None = None,
    client_config: ClientConfig | None = None,
) -> CapacityOutcome:
    """Open the target (starting its engine when it must), search it, stop what was started."""
    with open_target(settings, spec, step=step, on_engine_progress=on_engine_progress) as target:
        return capacity_target(sink, target, opts, progress=progress, step=step, client_config=client_config)


def capacity_target(
    sink: RunSink,
    target: Target,
    opts: CapacityOptions,
    *,
    progress: BenchProgress | None = None,
    step: Callable[[str], None] = lambda _m: None,
    client_config: ClientConfig | None = None,
) -> CapacityOutcome:
    """Search a target that is already open: one run row, one scenario row per probe."""
    if target.model is None:
        raise ValueError(f"no served model picked for {target.url}: {target.problem}")
    bounds = boundaries(opts.attainment, opts.alpha, opts.max_requests)
    users = opts.sessions()
    workload = Workload(
        input_tokens=opts.input_tokens,
        output_tokens=opts.output_tokens,
        dataset=opts.dataset,
        prefixes=opts.prefixes,
        seed=opts.seed,
        warmup=0,
    )
    method = {
        "capacity": opts.to_dict()
        | {
            "per_look": list(bounds.per_look),
            "cap": bounds.cap,
            "all_conforming_needs": bounds.all_conforming_needs,
        },
        # A search of users holds `level` sessions at once: its conversations are one each.
        "workload": users.config() | {"sessions": None} if users else workload.config(),
        "definitions": DEFINITIONS,
        "api_key_env": target.spec.api_key_env,
        "event_loop": loop.loop_name(),
    }
    prov = target.provenance()
    verdicts: dict[int, ProbeVerdict] = {}
    with record_run(sink, "capacity", prov, method) as run:
        search = _search(
            run, target, target.model, opts, workload, users, verdicts, progress, step, client_config
        )
        if stopped := loop.run(search):
            run.stop(stopped)
        elif not (ans := answer(verdicts, opts.max_concurrency, opts.unit)).resolved:
            run.fail(f"the capacity is not resolved: {ans.explained}")
    return run.outcome.with_details(CapacityOutcome, url=target.url)


async def _search(
    run: RunRecorder,
    target: Target,
    model: str,
    opts: CapacityOptions,
    workload: Workload,
    users: Sessions | None,  # set: the levels are users in these conversations
    verdicts: dict[int, ProbeVerdict],
    progress: BenchProgress | None,
    step: Callable[[str], None],
    client_config: ClientConfig | None,
) -> str:
    """Probes until the search is over; returns "" when it ran through, else why it stopped."""
    bounds = boundaries(opts.attainment, opts.alpha, opts.max_requests)
    rng = random.Random(opts.seed)
    async with bench_context(run, target, model, client_config, 1, progress) as ctx:
        # One set of shared prefixes for the whole search: every probe's prompts share the same ones.
        plan = await plan_prefixes(ctx.tokenizer, opts.prefixes, ctx.salt()) if opts.prefixes else None
        if users is not None:
            draw = await users.drawer(ctx, plan)
            numbering = itertools.count()
            if refused := await warm_users(ctx, users, draw):
                return refused
        else:
            warm = await workload.make_requests(ctx, 1, random.Random(opts.seed - 1), plan)
            await ctx.generate(warm[0], scenario=SCENARIO, label="warmup")
        while (level := next_level(verdicts, opts.max_concurrency, opts.start)) is not None:
            if progress:
                progress.scenario(f"{level} {opts.unit}")
            sid = run.start_scenario(SCENARIO, {"level": level, "slo": opts.slo.specs()})
            try:
                if users is not None:
                    res = await run_users_probe(
                        ctx,
                        level,
                        opts.slo,
                        bounds,
                        users,
                        draw,
                        numbering,
                        max_seconds=opts.max_probe_s,
                        sample_period_s=opts.sample_period_s,
                    )
                else:
                    res = await run_probe(
                        ctx,
                        level,
                        opts.slo,
                        bounds,
                        workload,
                        rng=rng,
                        prefixes=plan,
                        max_seconds=opts.max_probe_s,
                        sample_period_s=opts.sample_period_s,
                    )
            except ServerGone as e:
                run.finish_scenario(sid, "partial", [str(e)], {})
                return (
                    f"the server stopped answering at {level} {opts.unit}: {e}. "
                    f"{run.stored} requests are stored"
                )
            except BaseException:
                run.finish_scenario(sid, "partial", ["interrupted"], {})
                raise
            run.finish_scenario(sid, "complete", [res.why], _facts(res))
            verdicts[level] = res.verdict
            step(f"{level} {opts.unit}: {res.verdict} ({res.conforming}/{res.judged} conform; {res.why})")
    return ""


def _facts(res: ProbeResult) -> dict[str, Any]:
    return {
        "verdict": res.verdict,
        "why": res.why,
        "judged": res.judged,
        "conforming": res.conforming,
        "ramp": res.ramp,
        "drain": res.drain,
        "seconds": round(res.seconds, 3),
        "client_cpu_fraction": round(res.client_cpu_fraction, 3),
        "series": res.series.as_json(),
    }
