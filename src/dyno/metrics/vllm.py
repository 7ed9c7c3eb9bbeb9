"""What an engine's /metrics says between two scrapes: speculation, prefix cache, tokens, queueing.

Counter names as exported by vLLM 0.32 (v1/metrics/loggers.py, spec_decode/metrics.py), each
followed by llama-server's name for the same counter where it has one (`--metrics`;
tools/server/server-context.cpp): its speculative counters reuse vLLM's suffixes.
"""

from __future__ import annotations

from dataclasses import dataclass

from dyno.metrics.prom import Scrape, counter_delta


def _both(suffix: str) -> tuple[str, str]:
    return f"vllm:{suffix}", f"llamacpp:{suffix}"


GENERATION_TOKENS = ("vllm:generation_tokens_total", "llamacpp:tokens_predicted_total")
PROMPT_TOKENS = "vllm:prompt_tokens_total"
SPEC_DRAFTS = _both("spec_decode_num_drafts_total")
SPEC_DRAFT_TOKENS = _both("spec_decode_num_draft_tokens_total")
SPEC_ACCEPTED = _both("spec_decode_num_accepted_tokens_total")
SPEC_ACCEPTED_PER_POS = _both("spec_decode_num_accepted_tokens_per_pos_total")
PREFIX_QUERIES = "vllm:prefix_cache_queries_total"
PREFIX_HITS = "vllm:prefix_cache_hits_total"
# llama-server counts the prompt tokens it computed and those it reused from a slot's cache apart.
LLAMA_PROMPT_COMPUTED = "llamacpp:prompt_tokens_total"
LLAMA_PROMPT_CACHED = "llamacpp:prompt_tokens_cached_total"
QUEUE_SUM = "vllm:request_queue_time_seconds_sum"
QUEUE_COUNT = "vllm:request_queue_time_seconds_count"


@dataclass(frozen=True)
class SpecDecodeDelta:
    drafts: float
    draft_tokens: float
    accepted_tokens: float
    accepted_per_position: tuple[float, ...]  # position 0, 1, ...

    @property
    def active(self) -> bool:
        return self.drafts > 0

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted / proposed draft tokens."""
        return self.accepted_tokens / self.draft_tokens if self.draft_tokens else None

    @property
    def mean_acceptance_length(self) -> float | None:
        """Tokens per target step: 1 (the target's own) + accepted per draft."""
        return 1 + self.accepted_tokens / self.drafts if self.drafts else None

    @property
    def per_position_rate(self) -> tuple[float, ...]:
        """P(position i accepted) per draft; decays with i (a rejected position ends the draft)."""
        return tuple(a / self.drafts for a in self.accepted_per_position) if self.drafts else ()


def spec_decode_delta(before: Scrape, after: Scrape) -> SpecDecodeDelta | None:
    """None when the server exports no spec-decode counters at all."""
    drafts = counter_delta(before, after, SPEC_DRAFTS)
    if drafts is None:
        return None
    per_pos_after = after.by_label(SPEC_ACCEPTED_PER_POS, "position")
    per_pos_before = before.by_label(SPEC_ACCEPTED_PER_POS, "position")
    positions = sorted(per_pos_after, key=int)
    per_pos = tuple(per_pos_after[p] - per_pos_before.get(p, 0.0) for p in positions)
    return SpecDecodeDelta(
        drafts=drafts,
        draft_tokens=counter_delta(before, after, SPEC_DRAFT_TOKENS) or 0.0,
        accepted_tokens=counter_delta(before, after, SPEC_ACCEPTED) or 0.0,
        accepted_per_position=per_pos,
    )


@dataclass(frozen=True)
class PrefixCacheDelta:
    queries: float  # prompt tokens looked up
    hits: float  # of which found in the cache

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.queries if self.queries else None


def prefix_cache_delta(before: Scrape, after: Scrape) -> PrefixCacheDelta | None:
    q = counter_delta(before, after, PREFIX_QUERIES)
    h = counter_delta(before, after, PREFIX_HITS)
    if q is None or h is None:
        computed = counter_delta(before, after, LLAMA_PROMPT_COMPUTED)
        h = counter_delta(before, after, LLAMA_PROMPT_CACHED)
        q = None if computed is None or h is None else computed + h
    return None if q is None or h is None else PrefixCacheDelta(q, h)


def mean_queue_time_s(before: Scrape, after: Scrape) -> float | None:
    n = counter_delta(before, after, QUEUE_COUNT)
    total = counter_delta(before, after, QUEUE_SUM)
    return total / n if n and total is not None else None
