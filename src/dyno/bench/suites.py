"""Suites: which scenarios at which sizes.

demo      chat sanity, decode 3×256, TTFT short, 4 concurrent: what `dyno demo` measures
quick     decode 128×3, ttft short, concurrency 1/4: under ~2 min on the embedded engine
standard  adds prefill, prefix-cache, tool-call, spec-decode at moderate sizes
full      everything at the sizes field reports use
"""

from __future__ import annotations

from dataclasses import replace

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
)
from dyno.errors import UsageError

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
    ],
    "full": [
        Decode(lengths=(128, 512, 2048), repeat=5),
        TTFT(kinds=("short", "long"), repeat=10),
        Prefill(sizes=(2048, 8192, 32768, 102400), repeat=3),
        Concurrency(levels=(1, 2, 4, 8), output_tokens=256, batches=2),
        PrefixCache(prefix_tokens=8192, repeat=5),
        ToolCall(repeat=5),
        SpecDecode(requests_per_type=5, max_tokens=256),
    ],
}


def select(
    suite: str,
    names: list[str] | None = None,
    repeat: int | None = None,
    concurrency: tuple[int, ...] | None = None,
) -> list[Scenario]:
    """The scenarios to run: a suite, optionally narrowed to `names` (taken from the full suite
    when the chosen suite lacks them), with `repeat` and concurrency levels overridden."""
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
        if concurrency and isinstance(s, Concurrency):
            s = replace(s, levels=concurrency)
        out.append(s)
    return out
