"""The scenarios `dyno bench` can run, by name."""

from dyno.bench.scenario import Scenario
from dyno.bench.scenarios.cache import PrefixCache
from dyno.bench.scenarios.features import SpecDecode, ToolCall
from dyno.bench.scenarios.latency import TTFT, Decode, Prefill
from dyno.bench.scenarios.load import Concurrency
from dyno.bench.scenarios.objective import Objective
from dyno.bench.scenarios.replay import Replay
from dyno.bench.scenarios.sanity import Sanity
from dyno.bench.scenarios.sessions import AgentSessions, Sessions
from dyno.bench.scenarios.workload import Workload

SCENARIOS: dict[str, type[Scenario]] = {
    c.name: c
    for c in (
        Sanity,
        Decode,
        TTFT,
        Prefill,
        Concurrency,
        PrefixCache,
        ToolCall,
        SpecDecode,
        Workload,
        Sessions,
        AgentSessions,
        Replay,
    )
}

__all__ = [
    "SCENARIOS",
    "TTFT",
    "AgentSessions",
    "Concurrency",
    "Decode",
    "Objective",
    "Prefill",
    "PrefixCache",
    "Replay",
    "Sanity",
    "Sessions",
    "SpecDecode",
    "ToolCall",
    "Workload",
]
