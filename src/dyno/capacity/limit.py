"""Why the load stops there: the limit named from the first failing level, against the last passing one.

Evidence, strongest first:
- the client: a level dyno could not drive (client-bound) is no bound, and says so;
- errors: requests that failed outright at that load;
- the KV cache: usage at >= 95% or preemptions during the probe (vLLM);
- a queue: the server ran fewer requests than were in flight (running peaked
  below the level) or reported requests waiting: its batch limit
  (`--max-num-seqs`, llama-server's slots) holds the rest back, and their
  first token waits for a free slot;
- the batch: every request ran at once and the time per output token grew
  with them: the batch slows every stream;
- else the objective missed most, with its figures at both levels, and the
  note that without /metrics dyno cannot tell a queue from slow prefill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dyno.metrics.series import Series

LimitKind = Literal["none", "client", "errors", "kv_cache", "queue", "batch", "slo", "unknown"]


@dataclass(frozen=True)
class LevelEvidence:
    """What a probe showed, as `name_limit` needs it."""

    level: int
    verdict: str
    judged: int
    missed: dict[str, int]  # objective (or "error") -> judged requests that missed it
    ttft_q_ms: float | None  # at the attainment quantile (p95 for a 95% target): what the SLO judges
    tpot_q_ms: float | None
    series: Series
    quantile: str = "p50"  # its name
    unit: str = "streams"  # what the level counts


@dataclass(frozen=True)
class Limit:
    kind: LimitKind
    sentence: str


def _pair(name: str, fail: float | None, ok: float | None, f: int, p: int | None) -> str:
    if fail is None:
        return ""
    base = f" vs {ok:.0f} ms at {p}" if ok is not None and p is not None else ""
    return f"{name} {fail:.0f} ms at {f}{base}"


def name_limit(failing: LevelEvidence | None, passing: LevelEvidence | None) -> Limit:
    """The limit at `failing` (the smallest level that did not pass), `passing` the largest that did."""
    if failing is None:
        return Limit("none", "no level probed failed")
    f, p = failing.level, passing.level if passing else None
    q, at = failing.quantile, f"{f} {failing.unit}"
    ttft = _pair(f"TTFT {q}", failing.ttft_q_ms, passing.ttft_q_ms if passing else None, f, p)
    tpot = _pair(f"TPOT {q}", failing.tpot_q_ms, passing.tpot_q_ms if passing else None, f, p)
    if failing.verdict == "client_bound":
        return Limit("client", f"dyno itself was the bottleneck at {at} (a larger client box)")
    s = failing.series
    errors = failing.missed.get("error", 0)
    if failing.judged and errors * 2 >= failing.judged:
        return Limit("errors", f"requests fail at {at} ({errors} of {failing.judged} errored)")
    preempted, kv = s.grew("preemptions"), s.peak("kv_usage")
    if (preempted or 0) > 0 or (kv is not None and kv >= 0.95):
        what = f"{preempted:.0f} preemptions" if preempted else f"KV cache {kv:.0%} full"
        return Limit("kv_cache", f"the KV cache is full at {at} ({what}); {ttft or tpot}")
    running, waiting = s.peak("running"), s.peak("waiting")
    worst = max(failing.missed, key=lambda k: failing.missed[k], default="")
    per_token = worst in ("tpot_ms", "decode_tok_s")
    # A series sampled only while idle (running 0) says nothing about the load.
    busy = running is not None and running > 0
    if not per_token and busy and ((waiting or 0) > 0 or (running or 0) < f):
        held = f"the server ran at most {running:.0f} at once" if running is not None else "requests waited"
        return Limit(
            "queue",
            f"requests queue at {at}: {held} and up to {waiting or 0:.0f} waited for a slot "
            f"(its batch limit: --max-num-seqs, or llama-server's slots); {ttft}",
        )
    if (per_token or worst == "e2e_ms") and tpot:
        return Limit("batch", f"the batch slows every stream: {tpot}")
    if worst:
        figures = tpot if per_token else ttft
        unseen = "" if len(s) else " (no /metrics: a queue and slow prefill look alike from outside)"
        return Limit("slo", f"{worst} is missed first at {at}: {figures}{unseen}")
    return Limit("unknown", f"{at} did not pass ({failing.verdict})")
