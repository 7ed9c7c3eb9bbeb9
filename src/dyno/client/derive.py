"""Per-request figures derived from raw timestamps; nothing here is stored.

Definitions (the field disagrees on these, so they are written down):
- TTFT: request sent -> first chunk that carries content or reasoning
  (not the role-only first chunk vLLM sends).
- decode tok/s: (output tokens - tokens in the first content chunk) /
  (last content chunk - first content chunk). Prefill is excluded; tokens come
  from the server's `usage`, never from counting chunks, which is wrong under
  speculative decoding (several tokens per chunk).
- inter-token latency: gap between two content chunks / tokens in the later one.
- TTFT from intended: the load's intended send time -> first content; with
  dispatch delay (intended -> on the wire), what a rate load costs the client.
- server TTFT: the server's own account where it gives one (vLLM
  --enable-per-request-metrics: queue + scheduled-to-first-token; llama.cpp:
  prompt_ms); client overhead = client TTFT - server TTFT.
"""

from __future__ import annotations

import math
from itertools import pairwise

from dyno.client.records import Chunk, RequestRecord

NS = 1_000_000_000


def content_chunks(r: RequestRecord) -> list[Chunk]:
    return [c for c in r.chunks if c.kind != "empty"]


def ttft_ms(r: RequestRecord) -> float | None:
    if r.t_first_content_ns is None:
        return None
    return (r.t_first_content_ns - r.t_sent_ns) / 1e6


def e2e_s(r: RequestRecord) -> float | None:
    return None if r.t_end_ns is None else (r.t_end_ns - r.t_sent_ns) / NS


def _tokens_per_chunk_guess(r: RequestRecord, cc: list[Chunk]) -> float:
    """For a chunk without its own count (no continuous usage): usage's total spread evenly.

    Assuming 1 would be counting chunks as tokens, which is wrong under speculative decoding.
    """
    return r.output_tokens / len(cc) if r.output_tokens and cc else 1.0


def decode_tok_s(r: RequestRecord) -> float | None:
    cc = content_chunks(r)
    if len(cc) < 2 or r.output_tokens is None:
        return None
    first_tokens = cc[0].tokens if cc[0].tokens is not None else _tokens_per_chunk_guess(r, cc)
    span_s = (cc[-1].t_ns - cc[0].t_ns) / NS
    n = r.output_tokens - first_tokens
    if span_s <= 0 or n <= 0:
        return None
    return n / span_s


def itl_ms(r: RequestRecord) -> list[float]:
    cc = content_chunks(r)
    out = []
    for prev, cur in pairwise(cc):
        n = cur.tokens if cur.tokens else _tokens_per_chunk_guess(r, cc)
        out.append((cur.t_ns - prev.t_ns) / 1e6 / n)
    return out


def chunk_token_total(r: RequestRecord) -> int | None:
    """Tokens as the per-chunk usage saw them; None when the server gave no per-chunk counts."""
    known = [c.tokens for c in r.chunks if c.tokens is not None]
    return sum(known) if known else None


def aggregate_tok_s(records: list[RequestRecord]) -> float | None:
    """All output tokens of a batch over its wall span (first sent -> last finished)."""
    done = [r for r in records if r.ok and r.output_tokens and r.t_end_ns]
    if not done:
        return None
    span_s = (max(r.t_end_ns or 0 for r in done) - min(r.t_sent_ns for r in done)) / NS
    return sum(r.output_tokens or 0 for r in done) / span_s if span_s > 0 else None


def span_s(records: list[RequestRecord]) -> float | None:
    """First intended (else sent) -> last finished, over a set of requests (a load level's wall time)."""
    ends = [r.t_end_ns for r in records if r.t_end_ns]
    if not records or not ends:
        return None
    start = min(r.t_intended_ns or r.t_sent_ns for r in records)
    return (max(ends) - start) / NS if max(ends) > start else None


def dispatch_delay_ms(r: RequestRecord) -> float | None:
    """Intended send -> on the wire: the client's own lateness (pool, event loop), not the server's."""
    return None if r.t_intended_ns is None else (r.t_sent_ns - r.t_intended_ns) / 1e6


def ttft_from_intended_ms(r: RequestRecord) -> float | None:
    if r.t_first_content_ns is None or r.t_intended_ns is None:
        return None
    return (r.t_first_content_ns - r.t_intended_ns) / 1e6


def server_ttft_ms(r: RequestRecord) -> float | None:
    """The server's own time to first token, from what it reported for this request."""
    st = r.server_timing or {}
    try:
        if st.get("source") == "vllm" and st.get("time_to_first_token_ms") is not None:
            # vLLM's field starts when the request is scheduled; its queue time comes before that.
            return float(st["time_to_first_token_ms"]) + float(st.get("queue_time_ms") or 0.0)
        if st.get("source") == "llama.cpp" and st.get("prompt_ms") is not None:
            return float(st["prompt_ms"])
    except (TypeError, ValueError):
        return None
    return None


def client_overhead_ms(r: RequestRecord) -> float | None:
    """Client TTFT minus the server's: the wire, the server's HTTP front end, and dyno's own loop."""
    client, server = ttft_ms(r), server_ttft_ms(r)
    return None if client is None or server is None else client - server


def steady_window(records: list[RequestRecord], target: int, share: float = 0.95) -> tuple[int, int] | None:
    """The steady state of a sustained load: from the first moment at least `share` x `target` requests
    were in flight to the last moment they still were (the rule `vllm bench serve` uses); dips between
    (a freed slot's next request is microseconds away) do not end it. None when it never got there."""
    need = max(1, math.ceil(share * target - 1e-9))
    events = sorted(
        [(r.t_sent_ns, 1) for r in records if r.t_end_ns is not None]
        + [(r.t_end_ns, -1) for r in records if r.t_end_ns is not None]
    )
    start = end = None
    level = 0
    for t, step in events:
        was = level
        level += step
        if level >= need and start is None:
            start = t
        if was >= need > level:
            end = t
    return None if start is None or end is None else (start, end)


def in_window(r: RequestRecord, window: tuple[int, int]) -> bool:
    """Sent in the window and finished in it (a failed request without an end: sent in it)."""
    start, end = window
    return start <= r.t_sent_ns <= end and (r.t_end_ns is None or r.t_end_ns <= end)
