"""The machine decides the config: CPU flags, per-dtype matmul bounds, and what the plan and advice say.

The CPUs are described, not measured: an AVX2-only EPYC (bf16 emulated: bf16 matmuls at a fraction
of float32's), a Sapphire Rapids Xeon (AMX: bf16 native and fast), a Grace (Arm, FEAT_BF16).
The rates are round made-up figures of those shapes; the assertions are relations between them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dyno.bench.here import Served, fast_here
from dyno.catalog import get_hardware, get_model
from dyno.catalog.isa import isa_flags, missing_bf16, native_bf16
from dyno.catalog.types import Hardware, MatmulRate
from dyno.plan import make_plan
from dyno.plan.roofline import (
    CeilingInputs,
    bandwidth_ceiling_tok_s,
    ceiling_inputs,
    ceiling_tok_s,
)
from dyno.plan.weights import param_counts
from dyno.recipe.from_plan import recipe_for
from dyno.recipe.model import flag_value

SMOLLM2 = "smollm2-135m-instruct"
EPYC = "flags\t\t: fpu vme sse sse2 ssse3 fma avx avx2 bmi2\n"
SPR = "flags\t\t: fpu avx avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"
GRACE = "Features\t: fp asimd evtstrm aes sve sve2 bf16 i8mm\n"
EMULATED = (MatmulRate("bfloat16", 4.0, 4.0), MatmulRate("float32", 10.0, 40.0))
NATIVE = (MatmulRate("bfloat16", 60.0, 400.0), MatmulRate("float32", 30.0, 200.0))


def cpu(matmul: tuple[MatmulRate, ...], native: bool, bandwidth_gb_s: float = 18.0) -> Hardware:
    flags = ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if native else ("avx2",)
    return replace(
        get_hardware("h100-sxm"), id="cpu", name="a test CPU", compute_capability=None, memory_gb=24.0,
        memory_bandwidth_gb_s=bandwidth_gb_s, unified_memory=True, runtime_overhead_gb=0.5,
        os_headroom_gb=2.0, isa_flags=flags, native_bf16=native, matmul=matmul,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("cpuinfo", "flags", "native", "gap"),
    [
        (EPYC, ("avx2",), False, "no AVX512-BF16/AMX"),
        (
            SPR,
            ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"),
            True,
            None,
        ),
        (GRACE, ("asimd", "sve", "sve2", "bf16", "i8mm"), True, None),
        ("Features\t: fp asimd evtstrm aes\n", ("asimd",), False, "no FEAT_BF16"),
    ],
)
def test_the_flags_that_decide_bf16_are_read_from_cpuinfo(
    tmp_path: Path, cpuinfo: str, flags: tuple[str, ...], native: bool, gap: str | None
) -> None:
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nmodel name\t: Some CPU\n" + cpuinfo)
    assert isa_flags(f) == flags
    assert native_bf16(isa_flags(f)) is native
    if gap:
        assert missing_bf16(isa_flags(f)) == gap
    assert isa_flags(tmp_path / "absent") is None and native_bf16(None) is None


def test_emulated_bf16_caps_decode_below_bandwidth_and_says_why() -> None:
    hw = cpu(EMULATED, native=False)
    inputs = ceiling_inputs(hw, SMOLLM2)
    assert inputs is not None and inputs.bf16_emulated == "no AVX512-BF16/AMX"
    bandwidth = bandwidth_ceiling_tok_s(inputs, 100)
    assert bandwidth is not None
    compute = 4.0e9 / (2 * param_counts(get_model(SMOLLM2)).active)
    assert inputs.compute_tok_s == pytest.approx(compute)
    assert compute < bandwidth and ceiling_tok_s(inputs, 100) == pytest.approx(compute)
    why = inputs.why_below(bandwidth)
    assert why is not None and "bf16 is emulated on this CPU (no AVX512-BF16/AMX)" in why
    # stored with the run and read back: the same ceiling and reason from another machine
    back = CeilingInputs.from_dict(inputs.to_dict())
    assert back == inputs
    # runs stored before the compute bound existed read back bandwidth-only
    old = CeilingInputs.from_dict(
        {
            k: v
            for k, v in inputs.to_dict().items()
            if k in ("hardware", "memory_bandwidth_gb_s", "model", "quant")
        }
    )
    assert old is not None and ceiling_tok_s(old, 100) == pytest.approx(bandwidth)


def test_float32_is_costed_at_four_bytes_and_its_own_matmul_rate() -> None:
    hw = cpu(EMULATED, native=False)
    bf16 = ceiling_inputs(hw, SMOLLM2)
    fp32 = ceiling_inputs(hw, SMOLLM2, dtype="float32")
    assert bf16 is not None and fp32 is not None and fp32.dtype == "float32"
    bw16, bw32 = bandwidth_ceiling_tok_s(bf16, 100), bandwidth_ceiling_tok_s(fp32, 100)
    assert bw16 is not None and bw32 is not None
    assert bw32 == pytest.approx(bw16 / 2, rel=0.02)  # weights dominate: twice the bytes, half the bound
    assert fp32.compute_tok_s is not None and bf16.compute_tok_s is not None
    assert fp32.compute_tok_s == pytest.approx(2.5 * bf16.compute_tok_s)
    assert ceiling_tok_s(fp32, 100) == pytest.approx(min(bw32, fp32.compute_tok_s))
    # the launch flags say the dtype as vLLM reads them: either spelling, the last one wins
    assert flag_value(["--dtype=bfloat16", "--dtype", "float32"], "--dtype") == "float32"
    assert flag_value(["--port", "1"], "--dtype") is None


def test_a_gguf_on_llama_server_keeps_the_bandwidth_ceiling() -> None:
    inputs = ceiling_inputs(cpu(EMULATED, native=False), SMOLLM2, quant="q4_1")
    assert inputs is not None and inputs.compute_tok_s is None and inputs.dtype is None


def test_the_plan_does_not_speculate_where_matmuls_bound_decode() -> None:
    # Emulated bf16: a pass over k+1 tokens costs k+1 times one, so drafting cannot pay; float32
    # (twice the bytes, but bandwidth- not compute-bound here) is the plan's pick.
    emulated = make_plan(cpu(EMULATED, native=False), get_model(SMOLLM2))
    assert emulated.chosen.quant == "fp32"
    flags = recipe_for(emulated).flags
    assert flags[flags.index("--dtype") + 1] == "float32"
    bf16 = [c for c in emulated.candidates if c.quant == "bf16"]
    plain = next(c for c in bf16 if c.spec is None)
    drafting = [c for c in bf16 if c.spec is not None]
    assert drafting and all(
        c.single_stream_ceiling_tok_s <= plain.decode_ceiling_tok_s * 1.001 for c in drafting
    )
    # Decode ranks, but a 10x faster float32 prefill is said (from the same rates).
    (note,) = [n for n in emulated.notes if n.startswith("prefill of")]
    assert "(10.0x faster)" in note and "--dtype float32" in note
    # Native bf16 with bandwidth as the bound: bf16 (half the bytes) and free ngram drafts pay.
    native = make_plan(cpu(NATIVE, native=True), get_model(SMOLLM2))
    assert native.chosen.quant == "bf16" and native.chosen.spec_method == "ngram"
    assert "--dtype" not in recipe_for(native).flags
    assert not [n for n in native.notes if n.startswith("prefill of")]


def test_what_is_fast_here_is_said_from_measurements() -> None:
    hw = cpu(EMULATED, native=False)
    served = [
        Served(3, "vLLM bfloat16", 20.0, 1000.0),
        Served(4, "vLLM float32", 20.0, 200.0),
        Served(5, "llama-server", 120.0, 100.0),
    ]
    lines = fast_here(hw, served)
    assert "bf16 is emulated on this CPU (no AVX512-BF16/AMX)" in lines[0] and "(2.5x and 10.0x)" in lines[0]
    assert any(
        "llama-server decode 120.0 tok/s" in x and "6.0x the decode" in x and "10.0x faster" in x
        for x in lines
    )
    assert any("vLLM float32" in x and "5.0x faster to first token" in x for x in lines)
    assert "fastest measured: llama-server (`dyno up smollm2-llama`)" in lines[-1]
    # nothing measured yet: say what to run, claim nothing
    bare = fast_here(hw, [])
    assert len(bare) == 2 and "dyno bench smollm2-llama" in bare[1]
    demo_only = fast_here(hw, served[:1])
    assert len(demo_only) == 3 and "dyno bench smollm2-fp32" in demo_only[2]
    native = fast_here(cpu(NATIVE, native=True), [])
    assert native == [
        "bf16 runs on native instructions on this CPU: vLLM's bf16 default is the right dtype here"
    ]
