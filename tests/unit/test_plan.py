"""The serving physics: bytes per token, ceilings, memory fit, batching, prefill, recommendations."""

from __future__ import annotations

import pytest

from dyno.catalog import get_hardware, get_model, get_quant
from dyno.catalog.types import Hardware
from dyno.errors import UsageError
from dyno.plan import (
    PlanRequest,
    batch_point,
    bytes_per_token,
    decode_ceiling_tok_s,
    fit,
    kv_cache_bytes,
    kv_read_bytes,
    make_plan,
    param_counts,
    prefill_estimate_s,
    step_weight_bytes,
)
from dyno.plan.weights import expected_experts_touched

BF16 = get_quant("bf16")


def _hw(bandwidth_gb_s: float = 100.0, memory_gb: float = 64.0, *, unified: bool = False) -> Hardware:
    base = get_hardware("h100-sxm")
    return Hardware(
        id="test", name="test box", aliases=(), memory_gb=memory_gb, memory_bandwidth_gb_s=bandwidth_gb_s,
        unified_memory=unified, compute_capability="9.0", native_fp8=True, native_fp4_moe=False,
        bf16_dense_tflops=base.bf16_dense_tflops, cuda_device_name=None, runtime_overhead_gb=1.0,
        os_headroom_gb=8.0 if unified else 0.0,
    )  # fmt: skip


def test_smollm2_bytes_per_token_by_hand() -> None:
    """30 layers of q/k/v/o + SwiGLU MLP, plus the tied 49152 x 576 output projection, at BF16."""
    m = get_model("smollm2-135m-instruct")
    h, layers = 576, 30
    attn = h * (9 * 64) + 2 * h * (3 * 64) + (9 * 64) * h
    mlp = 3 * h * 1536
    out_proj = 49152 * h
    weights = 2 * (layers * (attn + mlp) + out_proj)
    kv_per_token = layers * 2 * 3 * 64 * 2
    tb = bytes_per_token(m, m.variants[0], BF16, context_tokens=1000)
    assert tb.weights == weights
    assert tb.kv_cache == 1000 * kv_per_token
    assert tb.lm_head == 2 * out_proj  # tied, and still read every token
    hw = _hw(bandwidth_gb_s=30.0)
    assert decode_ceiling_tok_s(hw, tb.total) == pytest.approx(30e9 / (weights + 1000 * kv_per_token))


def test_dense_31b_bf16_on_a_spark_is_about_4_tok_s() -> None:
    """shared/DOMAIN.md: 31e9 x 2 bytes / 273 GB/s -> ~4.4 tok/s."""
    m = get_model("gemma-4-31b-it")
    tb = bytes_per_token(m, m.variant("bf16"), BF16, context_tokens=1)
    assert decode_ceiling_tok_s(get_hardware("gb10"), tb.total) == pytest.approx(4.4, abs=0.2)


def test_moe_reads_only_top_k_experts_so_26b_a4b_decodes_several_times_faster_than_31b() -> None:
    moe, dense = get_model("gemma-4-26b-a4b-it"), get_model("gemma-4-31b-it")
    fp8 = get_quant("fp8")
    t_moe = bytes_per_token(moe, moe.variant("fp8"), fp8, context_tokens=1)
    t_dense = bytes_per_token(dense, dense.variant("fp8"), fp8, context_tokens=1)
    assert t_dense.total / t_moe.total > 4
    p = param_counts(moe)
    assert p.experts_active * 16 == p.experts_all  # 8 of 128 experts per token


def test_sliding_window_layers_hold_only_their_window() -> None:
    m = get_model("gemma3-270m-base")  # 15 sliding (window 512) + 3 global layers, 1 KV head x 256
    per_layer_token = 2 * 1 * 256 * 2
    assert kv_cache_bytes(m, 100) == 18 * 100 * per_layer_token
    assert kv_cache_bytes(m, 4096) == (15 * 512 + 3 * 4096) * per_layer_token
    assert kv_cache_bytes(m, 4096, "fp8") == kv_cache_bytes(m, 4096) / 2


def test_kv_shared_layers_read_a_cache_they_do_not_store() -> None:
    m = get_model("gemma-4-e2b-it")  # the last 20 of 35 layers reuse earlier layers' caches
    assert kv_read_bytes(m, 8192) > kv_cache_bytes(m, 8192) * 2


def test_union_of_experts_grows_with_tokens_only_under_independent_routing() -> None:
    assert expected_experts_touched(128, 8, 1) == 8
    assert expected_experts_touched(128, 8, 5, "shared") == 8
    five = expected_experts_touched(128, 8, 5, "independent")
    assert 8 < five < 40 and expected_experts_touched(128, 8, 10_000, "independent") == pytest.approx(128)
    m = get_model("qwen3-30b-a3b")
    v = m.variant("bf16")
    assert v is not None
    dense_part = step_weight_bytes(m, v, BF16, tokens=1).total - step_weight_bytes(m, v, BF16, 1).experts
    assert step_weight_bytes(m, v, BF16, tokens=4, routing="independent").total > dense_part


def test_batching_shares_weights_not_kv() -> None:
    m = get_model("gemma-4-31b-it")
    v = m.variant("fp8")
    assert v is not None
    hw = get_hardware("gb10")
    points = [batch_point(hw, m, v, get_quant("fp8"), concurrency=n, context_tokens=4096) for n in (1, 4, 16)]
    aggs = [p.aggregate_tok_s for p in points]
    per = [p.per_request_tok_s for p in points]
    assert aggs == sorted(aggs) and per == sorted(per, reverse=True)
    assert aggs[1] < 4 * aggs[0]  # each sequence still reads its own KV cache


def test_memory_fit_and_max_context() -> None:
    m = get_model("gemma-4-31b-it")
    v = m.variant("bf16")
    assert v is not None
    small = fit(_hw(memory_gb=48), m, v, BF16, context_tokens=4096, sequences=1, memory_utilization=0.9)
    assert not small.fits and small.max_context_tokens == 0  # 62 GB of weights
    big = fit(_hw(memory_gb=141), m, v, BF16, context_tokens=4096, sequences=1, memory_utilization=0.9)
    assert big.fits and big.max_sequences >= 1
    assert kv_cache_bytes(m, big.max_context_tokens) / 1e9 <= big.budget_gb - big.weights_gb - big.overhead_gb
    assert big.max_context_tokens == m.max_context or kv_cache_bytes(m, big.max_context_tokens + 1) / 1e9 > (
        big.budget_gb - big.weights_gb - big.overhead_gb
    )
    many = fit(_hw(memory_gb=141), m, v, BF16, context_tokens=4096, sequences=10_000, memory_utilization=0.9)
    assert not many.fits


def test_unified_memory_keeps_the_os_headroom() -> None:
    m = get_model("smollm2-135m-instruct")
    hw = _hw(memory_gb=16, unified=True)
    f = fit(hw, m, m.variants[0], BF16, context_tokens=1024, sequences=1, memory_utilization=1.0)
    assert f.budget_gb == pytest.approx(16 - 8)


def test_prefill_estimate_grows_with_prompt_and_attention_is_quadratic_without_window() -> None:
    hw, m = get_hardware("h100-sxm"), get_model("qwen3-30b-a3b")
    t1, t8 = prefill_estimate_s(hw, m, 1024), prefill_estimate_s(hw, m, 8192)
    assert t8 > 8 * t1  # linear part x8, attention part x64


def test_recommend_prefers_fp8_over_nvfp4_on_sm12x() -> None:
    p = make_plan(get_hardware("gb10"), get_model("gemma-4-26b-a4b-it"), PlanRequest(spec_method="mtp"))
    assert p.chosen.quant == "fp8" and p.chosen.fit.fits
    nvfp4 = next(c for c in p.candidates if c.quant == "nvfp4")
    assert nvfp4.decode_ceiling_tok_s > p.chosen.decode_ceiling_tok_s  # fewer bytes, slower kernel path
    assert nvfp4.kernel_factor < 1 and any("Marlin" in n for n in nvfp4.notes)


def test_recommend_prefers_nvfp4_where_fp4_is_native() -> None:
    p = make_plan(get_hardware("b200"), get_model("gemma-4-26b-a4b-it"), PlanRequest(spec_method="mtp"))
    assert p.chosen.quant == "nvfp4"


def test_recommend_picks_what_fits() -> None:
    p = make_plan(get_hardware("rtx-5090"), get_model("gemma-4-26b-a4b-it"))
    assert p.chosen.quant == "nvfp4" and p.chosen.fit.fits  # FP8 (27 GB) does not fit 32 GB with KV
    assert any(not c.fit.fits for c in p.candidates)
    nothing = make_plan(get_hardware("rtx-5090"), get_model("gemma-4-31b-it"), PlanRequest(quant="bf16"))
    assert not nothing.chosen.fit.fits and nothing.notes


def test_throughput_goal_ranks_by_aggregate_and_skips_speculation() -> None:
    p = make_plan(
        get_hardware("h100-sxm"), get_model("qwen3-30b-a3b"), PlanRequest(goal="throughput", concurrency=32)
    )
    assert all(c.spec_method is None for c in p.candidates)
    assert p.chosen.batch.concurrency == 32


def test_cpu_plans_bf16_only() -> None:
    cpu = _hw()
    cpu = Hardware(**{**cpu.__dict__, "id": "cpu", "compute_capability": None})
    p = make_plan(cpu, get_model("qwen3-30b-a3b"))
    assert {c.quant for c in p.candidates} == {"bf16"} and {c.kv_dtype for c in p.candidates} == {"auto"}


def test_bad_requests_are_usage_errors() -> None:
    hw, m = get_hardware("gb10"), get_model("qwen3-30b-a3b")
    with pytest.raises(UsageError, match="no 'nvfp4' variant"):
        make_plan(hw, m, PlanRequest(quant="nvfp4"))
    with pytest.raises(UsageError, match="no MTP drafter"):
        make_plan(hw, m, PlanRequest(spec_method="mtp"))
    with pytest.raises(UsageError, match="tokenizer"):
        make_plan(hw, m, PlanRequest(spec_method="draft_model", draft_model="smollm2-135m-instruct"))
