"""Suites: which scenarios at which sizes.

demo      chat sanity, decode 3×256, TTFT short, 4 concurrent: what `dyno demo` measures
quick     decode 128×3, ttft short, concurrency 1/4: under ~2 min on the embedded engine
standard  adds prefill, prefix-cache, tool-call, spec-decode, sessions and agent at moderate sizes
full      everything at the sizes field reports use
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dyno.bench.scenario import Scenario
from dyno.bench.scenarios import (
    TTFT,
    Concurrency,
    Decode,
    Prefill,
    PrefixCache,
    Sanity,
    SpecDecode,
    ToolCall,
    Workload,
)
from dyno.bench.scenarios.replay import Replay
from dyno.bench.scenarios.sessions import AgentSessions, Sessions
from dyno.bench.slo import SLO
from dyno.errors import UsageError
from dyno.workloads.dataset import load_dataset
from dyno.workloads.prefixes import SharedPrefixes
from dyno.workloads.sessions import SessionSpec
from dyno.workloads.shapes import Lengths
from dyno.workloads.traces import load_trace

SUITES: dict[str, list[Scenario]] = {
    "demo": [
        Sanity(),
        Decode(lengths=(256,), repeat=3),
        TTFT(kinds=("short",), repeat=3),
        Concurrency(levels=(4,), output_tokens=256),
    ],
    "quick": [
        Decode(lengths=(128,), repeat=3),
        TTFT(kinds=("short",), repeat=3),
        Concurrency(levels=(1, 4), output_tokens=128),
    ],
    "standard": [
        Decode(lengths=(128, 512), repeat=3),
        TTFT(kinds=("short", "long"), repeat=5),
        Prefill(sizes=(2048, 8192), repeat=2),
        Concurrency(levels=(1, 2, 4, 8), output_tokens=128),
        PrefixCache(prefix_tokens=8192, repeat=3),
        ToolCall(repeat=3),
        SpecDecode(requests_per_type=3, max_tokens=128),
        Sessions(spec=SessionSpec(2, Lengths("fixed", 4))),
        AgentSessions(),
    ],
    "full": [
        Decode(lengths=(128, 512, 2048), repeat=5),
        TTFT(kinds=("short", "long"), repeat=10),
        Prefill(sizes=(2048, 8192, 32768, 102400), repeat=3),
        Concurrency(levels=(1, 2, 4, 8), output_tokens=256, batches=2),
        PrefixCache(prefix_tokens=8192, repeat=5),
        ToolCall(repeat=5),
        SpecDecode(requests_per_type=5, max_tokens=256),
        Sessions(spec=SessionSpec(4, Lengths("fixed", 8))),
        AgentSessions(spec=SessionSpec(4, Lengths("fixed", 8))),
    ],
}


def select(
    suite: str,
    names: list[str] | None = None,
    repeat: int | None = None,
    concurrency: tuple[int, ...] | None = None,
    precision: float | None = None,
    max_repeats: int | None = None,
) -> list[Scenario]:
    """The scenarios to run: a suite, optionally narrowed to `names` (taken from the full suite
    when the chosen suite lacks them), with `repeat` and concurrency levels overridden; with
    `precision`, decode and TTFT repeat until their mean is that precise (bench/precision.py)."""
    if suite not in SUITES:
        raise UsageError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    chosen = {s.name: s for s in SUITES[suite]}
    if names:
        full = {s.name: s for s in SUITES["full"]}
        unknown = [n for n in names if n not in full]
        if unknown:
            raise UsageError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(full)}")
        scenarios = [chosen.get(n) or full[n] for n in names]
    else:
        scenarios = list(chosen.values())
    out: list[Scenario] = []
    for s in scenarios:
        if repeat is not None:
            if isinstance(s, Decode | TTFT | Prefill | PrefixCache | ToolCall):
                s = replace(s, repeat=repeat)
            elif isinstance(s, SpecDecode):
                s = replace(s, requests_per_type=repeat)
            elif isinstance(s, Concurrency):
                s = replace(s, batches=repeat)
        if precision is not None and isinstance(s, Decode | TTFT):
            s = replace(s, precision=precision, max_repeats=max_repeats or s.max_repeats)
        if concurrency and isinstance(s, Concurrency):
            s = replace(s, levels=concurrency)
        out.append(s)
    return out


@dataclass(frozen=True)
class WorkloadKnobs:
    """The load knobs every peer has; any one of them set makes the run a `workload` scenario."""

    input_tokens: Lengths | None = None
    output_tokens: Lengths | None = None
    dataset: Path | None = None
    rates: tuple[float, ...] = ()
    arrival: str = "poisson"
    duration_s: float | None = None
    requests: int | None = None
    seed: int = 0
    max_concurrency: int | None = None
    prefixes: SharedPrefixes | None = None
    sessions: int | None = None  # users, each a growing conversation (bench/scenarios/sessions.py)
    turns: Lengths | None = None
    think_time_s: float | None = None
    tool_result_tokens: Lengths | None = None  # agent loops: sessions whose tool calls get results
    tool_choice: str | None = None  # agent loops: on a task turn, auto (default) or required
    trace: Path | None = None  # a request trace to replay (bench/scenarios/replay.py)
    trace_format: str = "mooncake"
    time_scale: float | None = None
    length_scale: float | None = None
    trace_block_tokens: int | None = None

    @property
    def any(self) -> bool:
        return any(
            x is not None
            for x in (
                self.input_tokens,
                self.output_tokens,
                self.dataset,
                self.duration_s,
                self.requests,
                self.prefixes,
                self.sessions,
                self.turns,
                self.think_time_s,
                self.tool_result_tokens,
                self.tool_choice,
                self.trace,
                self.time_scale,
                self.length_scale,
                self.trace_block_tokens,
            )
        ) or bool(self.rates)


def replay(knobs: WorkloadKnobs, concurrency: tuple[int, ...] | None) -> Replay:
    """The Replay scenario: the trace's first --requests requests at its timestamps x --time-scale."""
    if knobs.trace is None:
        raise UsageError(
            "--time-scale, --length-scale and --trace-block-tokens shape a trace replay: add --trace FILE"
        )
    for given, flag in (
        (knobs.dataset, "--dataset"),
        (knobs.input_tokens, "--input-tokens"),
        (knobs.prefixes, "--prefix-groups"),
        (knobs.sessions, "--sessions"),
        (knobs.duration_s, "--duration"),
        (knobs.rates or None, "--rate"),
    ):
        if given is not None:
            raise UsageError(
                f"{flag} does not apply to --trace: the trace brings its arrivals, lengths and prefixes "
                "(--requests takes its first N, --output-tokens overrides its output lengths)"
            )
    if concurrency is not None and len(concurrency) > 1:
        raise UsageError("--concurrency with --trace caps the requests in flight: give one number")
    for value, flag in ((knobs.time_scale, "--time-scale"), (knobs.length_scale, "--length-scale")):
        if value is not None and value <= 0:
            raise UsageError(f"{flag} takes a factor > 0, not {value:g}")
    cap = knobs.max_concurrency or (concurrency[0] if concurrency else None)
    return Replay(
        trace=load_trace(knobs.trace, knobs.trace_format, knobs.requests),
        time_scale=knobs.time_scale or 1.0,
        length_scale=knobs.length_scale or 1.0,
        block_tokens=knobs.trace_block_tokens,
        output_tokens=knobs.output_tokens,
        **({"max_concurrency": cap} if cap else {}),
    )


def sessions(knobs: WorkloadKnobs, concurrency: tuple[int, ...] | None) -> Sessions:
    """The Sessions scenario: --sessions users at once, each through --turns turns."""
    if knobs.tool_choice is not None and knobs.tool_result_tokens is None:
        raise UsageError("--tool-choice shapes agent sessions: add --tool-result-tokens N (and --sessions N)")
    if knobs.sessions is None:
        raise UsageError(
            "--turns, --think-time and --tool-result-tokens shape sessions: "
            "add --sessions N (the users at once)"
        )
    for given, flag in (
        (concurrency, "--concurrency"),
        (knobs.requests, "--requests"),
        (knobs.duration_s, "--duration"),
        (knobs.max_concurrency, "--max-concurrency"),
    ):
        if given is not None:
            raise UsageError(
                f"{flag} does not apply to --sessions: the users are the concurrency, and each "
                "runs its --turns"
            )
    if len(knobs.rates) > 1:
        raise UsageError("--rate with --sessions takes one user-centric rate (turns per second), not a list")
    spec = SessionSpec(
        knobs.sessions,
        knobs.turns,
        knobs.think_time_s or 0.0,
        knobs.rates[0] if knobs.rates else None,
    )
    if knobs.dataset is not None and knobs.tool_result_tokens is not None:
        raise UsageError(
            "--tool-result-tokens runs agent sessions on tasks the bundled tools answer; "
            "a --dataset brings its own conversations"
        )
    dataset = load_dataset(knobs.dataset) if knobs.dataset else None
    if dataset is not None and knobs.input_tokens is not None:
        raise UsageError("--input-tokens sizes synthetic user turns; a --dataset brings its own")
    return (AgentSessions if knobs.tool_result_tokens else Sessions)(
        spec=spec,
        input_tokens=knobs.input_tokens,
        output_tokens=knobs.output_tokens,
        dataset=dataset,
        prefixes=knobs.prefixes,
        seed=knobs.seed,
        tool_result_tokens=knobs.tool_result_tokens,
        tool_choice=knobs.tool_choice or "auto",
    )


def workload(knobs: WorkloadKnobs, concurrency: tuple[int, ...] | None) -> Workload:
    """The Workload scenario for the knobs: a rate load when rates are given (concurrency then caps the
    requests in flight, as `vllm bench serve --max-concurrency` does), else sustained concurrency."""
    if knobs.prefixes and knobs.dataset:
        raise UsageError(
            "--prefix-groups shares a prefix among synthetic prompts; a --dataset brings its own prompts"
        )
    dataset = load_dataset(knobs.dataset) if knobs.dataset else None
    requests = knobs.requests if knobs.requests is not None or knobs.duration_s is not None else 64
    shape = Workload(
        mode="concurrent",
        levels=tuple(float(c) for c in (concurrency or (1,))),
        requests=requests,
        duration_s=knobs.duration_s,
        input_tokens=knobs.input_tokens,
        output_tokens=knobs.output_tokens,
        dataset=dataset,
        seed=knobs.seed,
        prefixes=knobs.prefixes,
    )
    if not knobs.rates:
        return shape
    if any(r <= 0 for r in knobs.rates):
        raise UsageError("--rate takes requests per second > 0, e.g. 2 or 1,2,4")
    cap = knobs.max_concurrency or (max(concurrency) if concurrency else None)
    return replace(
        shape,
        mode="rate",
        levels=knobs.rates,
        arrival=knobs.arrival,
        max_concurrency=cap or shape.max_concurrency,
    )


def choose(
    suite: str,
    names: list[str] | None,
    repeat: int | None,
    concurrency: tuple[int, ...] | None,
    knobs: WorkloadKnobs,
    precision: float | None = None,
    max_repeats: int | None = None,
    slo: SLO | None = None,
) -> tuple[str, list[Scenario]]:
    """(suite name as recorded, scenarios): the load knobs' own workload, or a suite's scenarios;
    `slo` is given to every load level (concurrency, workload) to judge."""
    if knobs.any:
        if names:
            raise UsageError("load knobs make their own scenario; leave --scenario out, or the knobs")
        if precision is not None:
            raise UsageError(
                "--precision repeats decode and ttft; a load runs for its --requests or --duration"
            )
        session_knobs = (
            knobs.sessions,
            knobs.turns,
            knobs.think_time_s,
            knobs.tool_result_tokens,
            knobs.tool_choice,
        )
        if any(
            x is not None
            for x in (knobs.trace, knobs.time_scale, knobs.length_scale, knobs.trace_block_tokens)
        ):
            name = "replay"
            chosen: list[Scenario] = [replay(knobs, concurrency)]
        elif any(x is not None for x in session_knobs):
            chosen = [sessions(knobs, concurrency)]
            name = chosen[0].name
        else:
            name = "workload"
            chosen = [workload(knobs, concurrency)]
    else:
        name, chosen = suite, select(suite, names, repeat, concurrency, precision, max_repeats)
    if slo is None:
        return name, chosen
    if not any(isinstance(s, Concurrency | Workload) for s in chosen):
        raise UsageError("--slo judges load levels: add --scenario concurrency, or a load knob")
    specs = tuple(slo.specs())
    return name, [replace(s, slo=specs) if isinstance(s, Concurrency | Workload) else s for s in chosen]
