"""Speculative decoding: expected tokens per step, step cost, the ceiling and the best k.

The model (single stream, bandwidth-bound):

    a_i   = P(draft token i accepted | tokens 1..i-1 accepted)   (per-position,
            conditional; a scalar a means a_i = a for every i)
    E[k]  = 1 + sum_{i=1..k} prod_{j<=i} a_j      tokens emitted per target step
            (the accepted prefix, plus the one token the target always adds:
            the correction at the first rejection or the bonus after k hits)
    bytes = W(k+1) + KV + k * D
            W(n): weights one target pass over n tokens reads. Dense: the same
                  as one token. MoE: the union of the experts the n tokens
                  route to; the ceiling assumes they share their top-k (the
                  upper bound), `moe_independent_tok_s` assumes independent
                  routing (each draft position pulls in new experts): the MoE
                  penalty that makes speculation pay less on A4B/A3B models
            KV:   the target's KV-cache read at the context (once per pass)
            D:    one drafter pass: an MTP or draft model's weights (from its
                  own catalog entry); 0 for ngram (prompt lookup reads no model)
    ceiling_spec = E[k] * bandwidth / bytes
    (on a CPU with a measured matmul rate: E[k] / max(bytes / bandwidth,
     compute seconds of a pass over k+1 tokens), see MatmulRate)

Each extra draft position adds prod(a_1..a_k) expected tokens and costs one
drafter pass (plus, on MoE, more experts in the verify pass); the best k is
where that stops paying: the smallest k whose ceiling is within 1% of the
argmax over k = 1..8 (with a free ngram drafter the raw argmax is always the
largest k tried). The ceiling
ignores the drafter's own KV reads and the sampler, so it is optimistic for
small drafters with long contexts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from dyno.catalog.types import Drafter, Hardware, Model, QuantFormat, Variant
from dyno.plan.kv import KvDtype, kv_read_bytes
from dyno.plan.roofline import measured_rate
from dyno.plan.weights import GB, param_counts, step_weight_bytes

SpecMethod = Literal["mtp", "ngram", "draft_model"]
SPEC_METHODS: tuple[SpecMethod, ...] = ("mtp", "ngram", "draft_model")
MAX_K = 8
DIMINISHING_RETURNS = 0.01  # best_k stops where one more position gains under 1%

# Assumed acceptance when the user gives none; content decides the real one.
DEFAULT_ACCEPTANCE: dict[SpecMethod, float] = {
    # field reports for Gemma 4 MTP drafters: ~70-87% on E4B, lower on prose
    "mtp": 0.7,
    # prompt lookup only hits when the output repeats the prompt (code edits, RAG)
    "ngram": 0.3,
    # a smaller sibling model as drafter: typically 50-70% on chat text
    "draft_model": 0.6,
}

Acceptance = float | Sequence[float]


def conditional_rates(acceptance: Acceptance, k: int) -> list[float]:
    """Per-position conditional acceptance for positions 1..k.

    A list shorter than k repeats its last rate: acceptance decays with
    position, and the last measured position is the best guess for later ones.
    """
    if isinstance(acceptance, int | float):
        rates = [float(acceptance)] * k
    else:
        given = [float(a) for a in acceptance]
        if not given:
            raise ValueError("acceptance: give a rate or a list of per-position rates")
        rates = [given[min(i, len(given) - 1)] for i in range(k)]
    for a in rates:
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"acceptance rate {a} is outside [0, 1]")
    return rates


def expected_tokens_per_step(acceptance: Acceptance, k: int) -> float:
    """E[k] = 1 + sum_i prod_{j<=i} a_j: tokens one target step emits with k drafts."""
    expected, run = 1.0, 1.0
    for a in conditional_rates(acceptance, k):
        run *= a
        expected += run
    return expected


def drafter_bytes_per_pass(
    method: SpecMethod,
    *,
    drafter: Drafter | None = None,
    draft_model_bytes: float | None = None,
) -> float:
    if method == "ngram":
        return 0.0
    if method == "mtp":
        if drafter is None:
            raise ValueError("mtp needs a drafter")
        return drafter.weights_gb * GB
    if draft_model_bytes is None:
        raise ValueError("draft_model needs the draft model's bytes per token")
    return draft_model_bytes


@dataclass(frozen=True)
class SpecPoint:
    k: int
    expected_tokens_per_step: float
    step_bytes: float
    decode_ceiling_spec_tok_s: float
    moe_independent_tok_s: float  # the same with independently routed draft positions (= ceiling if dense)


def spec_point(
    hardware: Hardware,
    model: Model,
    variant: Variant,
    quant: QuantFormat,
    *,
    k: int,
    acceptance: Acceptance,
    drafter_bytes: float,
    context_tokens: int,
    kv_dtype: KvDtype = "auto",
) -> SpecPoint:
    if k < 1:
        raise ValueError("num_speculative_tokens must be at least 1")
    rest = kv_read_bytes(model, context_tokens, kv_dtype) + k * drafter_bytes
    step = step_weight_bytes(model, variant, quant, tokens=k + 1).total + rest
    step_indep = step_weight_bytes(model, variant, quant, tokens=k + 1, routing="independent").total + rest
    e = expected_tokens_per_step(acceptance, k)
    bw = hardware.memory_bandwidth_gb_s * GB
    t_step, t_indep = step / bw, step_indep / bw
    if (rate := measured_rate(hardware, quant)) is not None:
        # A CPU whose matmuls, not its memory, bound decode pays for every drafted position it
        # verifies: where a pass over k+1 tokens costs k+1 times one, drafting cannot pay.
        t_compute = rate.seconds(param_counts(model).active, k + 1)
        t_step, t_indep = max(t_step, t_compute), max(t_indep, t_compute)
    return SpecPoint(k, e, step, e / t_step, e / t_indep)


def spec_curve(
    hardware: Hardware,
    model: Model,
    variant: Variant,
    quant: QuantFormat,
    *,
    acceptance: Acceptance,
    drafter_bytes: float,
    context_tokens: int,
    kv_dtype: KvDtype = "auto",
    max_k: int = MAX_K,
) -> list[SpecPoint]:
    return [
        spec_point(
            hardware,
            model,
            variant,
            quant,
            k=k,
            acceptance=acceptance,
            drafter_bytes=drafter_bytes,
            context_tokens=context_tokens,
            kv_dtype=kv_dtype,
        )
        for k in range(1, max_k + 1)
    ]


def best_k(curve: Sequence[SpecPoint]) -> SpecPoint:
    """The k that maximises the ceiling, stopping where one more position gains under 1%.

    With a free drafter (ngram) and a flat acceptance every extra position
    adds a little and costs no bytes, so the raw argmax is always the largest
    k tried; past the point of diminishing returns a longer draft only adds
    verify work the byte model does not see.
    """
    top = max(p.decode_ceiling_spec_tok_s for p in curve)
    return min(
        (p for p in curve if p.decode_ceiling_spec_tok_s >= top * (1 - DIMINISHING_RETURNS)),
        key=lambda p: p.k,
    )
