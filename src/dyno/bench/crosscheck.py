"""Token counts three ways, side by side; a disagreement over 1% is reported, never resolved.

- usage: the server's `usage.completion_tokens`, summed over the scenario's requests
- chunks: the per-chunk counts from continuous usage, summed
- metrics: the `vllm:generation_tokens_total` delta between the scenario's scrapes
"""

from __future__ import annotations

from dataclasses import dataclass

from dyno.bench.scenario import ScenarioData
from dyno.client import derive
from dyno.metrics import counter_delta
from dyno.metrics.vllm import GENERATION_TOKENS

TOLERANCE = 0.01


@dataclass(frozen=True)
class TokenCheck:
    scenario: str
    usage_tokens: int
    chunk_tokens: int | None  # None when the server sent no per-chunk counts
    metrics_tokens: float | None  # None when there is no /metrics
    requests_without_usage: int

    def disagreements(self) -> list[str]:
        out = []
        if self.requests_without_usage:
            out.append(f"{self.requests_without_usage} requests finished without a usage block")
        for what, other in (("per-chunk counts", self.chunk_tokens), ("/metrics delta", self.metrics_tokens)):
            if other is None:
                continue
            base = max(self.usage_tokens, 1)
            if abs(other - self.usage_tokens) / base > TOLERANCE:
                out.append(f"usage says {self.usage_tokens} output tokens, {what} says {other:.0f}")
        return out


def token_check(data: ScenarioData) -> TokenCheck:
    # Every request the scenario sent counts here, warm-ups and failures too:
    # the server generated those tokens between the two scrapes all the same.
    usage = sum(r.output_tokens or 0 for r in data.requests)
    per_chunk = [derive.chunk_token_total(r) for r in data.requests]
    chunks = sum(c for c in per_chunk if c is not None) if any(c is not None for c in per_chunk) else None
    missing = sum(1 for r in data.requests if r.ok and r.output_tokens is None)
    before, after = data.scrapes.get("before"), data.scrapes.get("after")
    metrics = counter_delta(before, after, GENERATION_TOKENS) if before and after else None
    return TokenCheck(data.name, usage, chunks, metrics, missing)
