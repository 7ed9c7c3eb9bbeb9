"""Predict decode tok/s for every draft length k from two measured points and one acceptance curve.

Speculative decoding's acceptance rule (gpt-fast's `speculative_decode`, vLLM's
rejection sampler): the target checks all k drafted tokens in one forward
pass, keeps them up to the first one it rejects, and adds one token of its
own. So a step that drafts k tokens yields 1 + (accepted prefix length)
tokens, and P(position i accepted) is the product of the conditional rates up
to i. vLLM counts accepted tokens per position across drafts, so measured at
the largest k, r_i = accepted_at_position_i / drafts is that product, and for
any smaller k:

    E[tokens per drafting step](k) = 1 + r_1 + ... + r_k

Prompt lookup (ngram) drafts only when the n-gram matches, so a fraction f of
steps draft (f = drafts / steps, steps = generated tokens - accepted tokens)
and the rest yield one token. The step time is modelled as linear in k,
t(k) = t0 + c k on a drafting step and t0 otherwise: t0 comes from the k=0
measurement (1 / its tok/s) and c from the k_max one. Then

    tok/s(k) = (f E(k) + 1 - f) / (t0 + f c k)

The model's job is to pick which k to measure next, not to replace the
measurement: a tune reports the prediction next to every figure it measures.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecObservation:
    """What one speculative run measured: its tok/s and the acceptance counters behind it."""

    k: int
    tok_s: float
    per_position_rate: tuple[float, ...]  # r_1..r_k: accepted at position i / drafts
    draft_fraction: float  # f: drafting steps / all steps


def expected_tokens(rates: tuple[float, ...], k: int) -> float:
    return 1.0 + sum(rates[:k])


def draft_fraction(drafts: float, generated_tokens: float, accepted_tokens: float) -> float:
    steps = generated_tokens - accepted_tokens
    return min(1.0, drafts / steps) if steps > 0 else 0.0


@dataclass(frozen=True)
class KCurve:
    """The calibrated model: predicted tok/s for any k in 0..k_max."""

    t0_s: float  # seconds per step without drafting
    c_s: float  # seconds added per drafted position on a drafting step
    rates: tuple[float, ...]
    f: float

    def tok_s(self, k: int) -> float:
        if k == 0:
            return 1.0 / self.t0_s
        e = expected_tokens(self.rates, k)
        return (self.f * e + 1.0 - self.f) / (self.t0_s + self.f * self.c_s * k)

    def best(self, ks: list[int]) -> int:
        """The k with the highest predicted tok/s; the smaller one on a tie within 1%."""
        ranked = sorted(ks, key=lambda k: (-self.tok_s(k), k))
        top = self.tok_s(ranked[0])
        return min(k for k in ranked if self.tok_s(k) >= top * 0.99)


def calibrate(baseline_tok_s: float, at_max: SpecObservation) -> KCurve:
    """t0 from speculation off; c from the largest k (clamped at 0: drafting is never free of cost)."""
    if baseline_tok_s <= 0 or at_max.tok_s <= 0 or at_max.k <= 0:
        raise ValueError("calibration needs a positive tok/s at k=0 and at some k > 0")
    t0 = 1.0 / baseline_tok_s
    f = at_max.draft_fraction
    e = expected_tokens(at_max.per_position_rate, at_max.k)
    c = ((f * e + 1.0 - f) / at_max.tok_s - t0) / (f * at_max.k) if f > 0 else 0.0
    return KCurve(t0, max(0.0, c), at_max.per_position_rate, f)
