"""Every figure dyno reports: a stable id (JSON, CSV, comparisons) and how a screen shows it.

Ids carry their unit (`ttft_ms`, `decode_tok_s`); titles are what a table
header says. Per-position acceptance is a family: `accept_at_1`, `accept_at_2`, ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dyno.bench.stats import P99_MIN_SAMPLES


@dataclass(frozen=True)
class Figure:
    title: str
    unit: str  # "" for a ratio in [0, 1]
    higher_is_better: bool | None = None  # for comparisons; None: neither


FIGURES: dict[str, Figure] = {
    "decode_tok_s": Figure("decode tok/s", "tok/s", True),
    "ttft_ms": Figure("TTFT", "ms", False),
    "ttft_p50_ms": Figure("TTFT p50", "ms", False),
    "ttft_p90_ms": Figure("TTFT p90", "ms", False),
    "ttft_p99_ms": Figure("TTFT p99", "ms", False),
    "itl_ms": Figure("ITL", "ms", False),
    "e2e_s": Figure("e2e", "s", False),
    "output_tokens": Figure("output tokens", "tok"),
    "prompt_tokens": Figure("prompt tokens", "tok"),
    "prefill_tok_s": Figure("prefill tok/s", "tok/s", True),
    "aggregate_tok_s": Figure("aggregate tok/s", "tok/s", True),
    "per_request_tok_s": Figure("per-request tok/s", "tok/s", True),
    "queue_time_ms": Figure("queue time (server)", "ms", False),
    "cache_hit_rate": Figure("cache hit rate", ""),
    "cache_hit_rate_bound": Figure("cache hit rate an unlimited cache serves", ""),
    "cache_hit_rate_trace": Figure("cache hit rate of the trace (its own blocks, unlimited cache)", ""),
    "cached_tokens": Figure("cached prompt tokens (server usage)", "tok"),
    "cached_tokens_bound": Figure("cached tokens an unlimited cache serves", "tok"),
    "session_s": Figure("session duration", "s"),
    "ttft_speedup": Figure("TTFT speedup", "x", True),
    "prompt_overhead_tok": Figure("prompt overhead", "tok", False),
    "valid_tool_calls": Figure("valid tool calls", "", True),
    "tool_call_rate": Figure("turns that called a tool", ""),
    "acceptance_rate": Figure("acceptance rate", "", True),
    "mean_acceptance_length": Figure("mean acceptance length", "tok", True),
    "drafts": Figure("drafts", "count"),
    "accepted_tokens": Figure("accepted tokens", "tok"),
    "throughput_req_s": Figure("requests/s", "req/s", True),
    "output_tok_s": Figure("output tok/s", "tok/s", True),
    "ttft_from_intended_ms": Figure("TTFT from intended", "ms", False),
    "dispatch_delay_ms": Figure("dispatch delay", "ms", False),
    "server_ttft_ms": Figure("server TTFT", "ms", False),
    "client_overhead_ms": Figure("client - server TTFT", "ms", False),
    "objective": Figure("objective", "", True),
    "slo_attainment": Figure("SLO attainment", "", True),
    "goodput_req_s": Figure("goodput", "req/s", True),
    "goodput_tok_s": Figure("goodput tok/s", "tok/s", True),
    "steady_s": Figure("steady window", "s"),
    "energy_j_per_tok": Figure("GPU energy per output token (GPU rail, not wall power)", "J/tok", False),
    "tok_per_j": Figure("output tokens per GPU joule (GPU rail, not wall power)", "tok/J", True),
}

_ACCEPT_AT = re.compile(r"accept_at_(\d+)$")


def figure(metric_id: str) -> Figure:
    """The figure for an id; an id dyno does not know shows as itself (a run stored by a newer dyno)."""
    if metric_id in FIGURES:
        return FIGURES[metric_id]
    if m := _ACCEPT_AT.match(metric_id):
        return Figure(f"accept@{m.group(1)}", "", True)
    return Figure(metric_id, "")


def header(metric_id: str) -> str:
    """A column header: the title, with its unit unless the title already says it."""
    f = figure(metric_id)
    return f.title if not f.unit or f.title.endswith(f.unit) else f"{f.title} ({f.unit})"


# Figures a load is judged by in percentiles (the tail is the point): tables show them as p50 / p99.
PERCENTILE_METRICS = {
    "ttft_ms",
    "ttft_from_intended_ms",
    "dispatch_delay_ms",
    "itl_ms",
    "e2e_s",
    "server_ttft_ms",
    "client_overhead_ms",
}


def thin_p99(n: int) -> bool:
    """A p99 of n samples is fewer than a p99 needs (bench/stats.quantile_min_samples): mark it."""
    return 0 < n < P99_MIN_SAMPLES
