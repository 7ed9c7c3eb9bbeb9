"""The speculative-decoding model: expected tokens per step, step cost, ceiling, best k."""

from __future__ import annotations

import pytest

from dyno.catalog import get_drafter, get_hardware, get_model, get_quant
from dyno.plan import PlanRequest, best_k, expected_tokens_per_step, make_plan, spec_curve, spec_point
from dyno.plan.spec import conditional_rates

FP8 = get_quant("fp8")


def test_expected_tokens_scalar_is_the_geometric_sum() -> None:
    for a in (0.0, 0.5, 0.8):
        for k in (1, 3, 6):
            closed = (1 - a ** (k + 1)) / (1 - a)
            assert expected_tokens_per_step(a, k) == pytest.approx(closed)
    assert expected_tokens_per_step(1.0, 4) == 5


def test_expected_tokens_from_per_position_conditional_rates() -> None:
    # 1 + 0.9 + 0.9*0.5 + 0.9*0.5*0.2
    assert expected_tokens_per_step([0.9, 0.5, 0.2], 3) == pytest.approx(1 + 0.9 + 0.45 + 0.09)
    # positions past the list repeat its last rate
    assert conditional_rates([0.9, 0.5], 4) == [0.9, 0.5, 0.5, 0.5]
    with pytest.raises(ValueError):
        conditional_rates([1.2], 1)


def test_free_drafter_with_full_acceptance_multiplies_a_dense_ceiling() -> None:
    m = get_model("gemma-4-31b-it")
    v = m.variant("fp8")
    assert v is not None
    hw = get_hardware("gb10")
    p = spec_point(hw, m, v, FP8, k=4, acceptance=1.0, drafter_bytes=0.0, context_tokens=1)
    base = spec_point(hw, m, v, FP8, k=1, acceptance=0.0, drafter_bytes=0.0, context_tokens=1)
    assert p.decode_ceiling_spec_tok_s == pytest.approx(5 * base.decode_ceiling_spec_tok_s)
    assert p.moe_independent_tok_s == p.decode_ceiling_spec_tok_s  # dense: routing does not matter


def test_zero_acceptance_with_a_drafter_is_slower_than_no_speculation() -> None:
    """The base-target trap in numbers: drafter passes that buy nothing."""
    m = get_model("gemma-4-26b-a4b-it")
    v = m.variant("fp8")
    assert v is not None
    hw = get_hardware("gb10")
    d = get_drafter("gemma-4-26b-a4b-it-assistant").weights_gb * 1e9
    plain = make_plan(hw, m, PlanRequest(quant="fp8", kv_dtype="auto", context_tokens=4096))
    no_spec = next(c for c in plain.candidates if c.spec_method is None)
    p = spec_point(hw, m, v, FP8, k=4, acceptance=0.0, drafter_bytes=d, context_tokens=4096)
    assert p.decode_ceiling_spec_tok_s < no_spec.decode_ceiling_tok_s


def test_best_k_balances_acceptance_against_drafter_cost() -> None:
    m = get_model("gemma-4-31b-it")
    v = m.variant("fp8")
    assert v is not None
    hw = get_hardware("gb10")
    d = get_drafter("gemma-4-31b-it-assistant").weights_gb * 1e9
    high = best_k(spec_curve(hw, m, v, FP8, acceptance=0.9, drafter_bytes=d, context_tokens=1024))
    low = best_k(spec_curve(hw, m, v, FP8, acceptance=0.3, drafter_bytes=d, context_tokens=1024))
    assert high.k > low.k
    curve = spec_curve(hw, m, v, FP8, acceptance=0.9, drafter_bytes=d, context_tokens=1024)
    assert high.decode_ceiling_spec_tok_s >= 0.99 * max(p.decode_ceiling_spec_tok_s for p in curve)


def test_moe_verify_pass_is_penalised_under_independent_routing() -> None:
    m = get_model("gemma-4-26b-a4b-it")
    v = m.variant("fp8")
    assert v is not None
    p = spec_point(get_hardware("gb10"), m, v, FP8, k=4, acceptance=0.7, drafter_bytes=0.0, context_tokens=1)
    assert p.moe_independent_tok_s < p.decode_ceiling_spec_tok_s


def test_plan_reports_the_spec_ceiling_and_best_k() -> None:
    p = make_plan(
        get_hardware("gb10"),
        get_model("gemma-4-31b-it"),
        PlanRequest(quant="fp8", spec_method="mtp", acceptance=(0.9, 0.8, 0.7, 0.6)),
    )
    c = p.chosen
    assert c.spec is not None and c.spec_k == c.spec.k and not c.acceptance_assumed
    assert c.spec.decode_ceiling_spec_tok_s > c.decode_ceiling_tok_s
    fixed = make_plan(
        get_hardware("gb10"),
        get_model("gemma-4-31b-it"),
        PlanRequest(quant="fp8", spec_method="ngram", spec_k=2),
    )
    assert fixed.chosen.spec_k == 2 and fixed.chosen.acceptance_assumed
