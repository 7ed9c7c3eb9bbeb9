"""Rules that need the hardware: FP4 kernels, unified memory, memory fit, attention backend, MoE tuning."""

from __future__ import annotations

from dyno.catalog import get_quant
from dyno.catalog.isa import missing_bf16
from dyno.lint.types import Finding, LintContext, rule
from dyno.plan.kv import KvDtype
from dyno.plan.roofline import fit, memory_budget_gb, safe_memory_utilization
from dyno.plan.weights import GB, weights_bytes

VLLM_DEFAULT_MEMORY_UTILIZATION = 0.9
DESKTOP_SAFE_UTILIZATION = 0.5


def _float_flag(ctx: LintContext, name: str) -> float | None:
    v = ctx.flag(name)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _int_flag(ctx: LintContext, name: str) -> int | None:
    v = ctx.flag(name)
    if isinstance(v, str):
        s = v.strip().lower()
        mult = 1024 if s.endswith("k") else 1
        try:
            return int(float(s.rstrip("k")) * mult)
        except ValueError:
            return None
    return None


# The dense-GEMM fix for NVFP4 on sm_12x as the field sets it (vLLM 0.18/0.19 builds).
NVFP4_DENSE_MARLIN_ENV = (("VLLM_NVFP4_GEMM_BACKEND", "marlin"), ("VLLM_USE_FLASHINFER_MOE_FP4", "0"))
_FALSE_WORDS = ("0", "false")


def _flag_is(ctx: LintContext, name: str, value: str) -> bool:
    # vLLM lower-cases kernel backend names and maps '-' to '_' (vllm/config/kernel.py)
    v = ctx.flag(name)
    return isinstance(v, str) and v.strip().lower().replace("-", "_") == value


def _dense_marlin_missing(ctx: LintContext) -> list[str]:
    """What the dense NVFP4 GEMM fix still lacks; [] when it is in place."""
    if _flag_is(ctx, "--linear-backend", "marlin"):
        return []  # newer builds (vLLM 0.32) choose linear kernels with this flag instead of the env
    env = ctx.recipe.env_dict
    passed_through = ctx.env_names() - set(env)  # docker `-e NAME`: the value is the host's, unseen
    missing = []
    for name, want in NVFP4_DENSE_MARLIN_ENV:
        if name in passed_through:
            continue
        got = env.get(name, "").strip().lower()
        if not (got == want or (want == "0" and got in _FALSE_WORDS)):
            missing.append(f"{name}={want}")
    return missing


@rule("nvfp4-sm12x-without-marlin", "trap 3: native FP4 kernels crash or emit garbage on sm_120/121")
def nvfp4_sm12x_without_marlin(ctx: LintContext) -> list[Finding]:
    """MoE NVFP4 needs `--moe-backend marlin`; dense NVFP4 needs the Marlin GEMM env.

    The field's working MoE command (`--quantization modelopt --moe-backend marlin`)
    runs the experts through Marlin and the few dense FP4 GEMMs on FlashInfer
    CUTLASS; the env pair is the fix for dense models, whose every GEMM is FP4.
    MXFP4 is not checked: vLLM's MXFP4 MoE oracle already prefers Marlin on sm_12x
    (vllm/model_executor/layers/fused_moe/oracle/mxfp4.py, 0.32).
    """
    hw = ctx.hardware
    if hw is None or not hw.is_sm12x or ctx.quant is None or ctx.quant.id != "nvfp4":
        return []
    moe = ctx.is_moe
    moe_fixed = _flag_is(ctx, "--moe-backend", "marlin")
    dense_missing = _dense_marlin_missing(ctx)
    broken = (
        f"NVFP4 weights ({ctx.quant_evidence}) on {hw.sm}: vLLM's native FP4 kernels (CUTLASS/FlashInfer) "
        "fail or produce garbage there (NaN scales, '!!!!' output)"
    )
    fp8 = "or serve an FP8 checkpoint, usually faster on this chip"
    dense_fix = (
        f"set {', '.join(dense_missing)} (on vLLM builds with --linear-backend, --linear-backend marlin "
        "does the same)"
    )
    name = ctx.model.id if ctx.model else "this model"
    if moe is True:
        if moe_fixed:
            return []
        env_note = "" if dense_missing else "; the Marlin env vars set here fix dense models, not experts"
        return [
            Finding(
                "nvfp4-sm12x-without-marlin",
                "error",
                f"{broken}. {name} is MoE and its experts run on the native FP4 MoE kernels without "
                f"--moe-backend marlin{env_note}",
                f"add --moe-backend marlin (the fix for MoE models: experts through Marlin), {fp8}",
            )
        ]
    if moe is False:
        if not dense_missing:
            return []
        moe_note = " (--moe-backend marlin only moves MoE layers; this model has none)" if moe_fixed else ""
        return [
            Finding(
                "nvfp4-sm12x-without-marlin",
                "error",
                f"{broken}. {name} is dense: every GEMM is FP4 and needs the Marlin GEMM backend{moe_note}",
                f"{dense_fix}: the fix for dense NVFP4 models; {fp8}",
            )
        ]
    if moe_fixed and not dense_missing:
        return []
    if not moe_fixed and dense_missing:
        return [
            Finding(
                "nvfp4-sm12x-without-marlin",
                "error",
                f"{broken}. No Marlin fix is set, and dyno does not know whether this model is MoE",
                f"MoE model: add --moe-backend marlin; dense model: {dense_fix}; {fp8}",
            )
        ]
    given, other = (
        ("--moe-backend marlin (the MoE fix)", f"if it is dense, {dense_fix}")
        if moe_fixed
        else ("the Marlin GEMM env (the dense fix)", "if it is MoE, add --moe-backend marlin")
    )
    return [
        Finding(
            "nvfp4-sm12x-without-marlin",
            "warn",
            f"NVFP4 weights on {hw.sm} with {given} only, and dyno does not know whether this model is MoE: "
            "the other kind crashes or produces garbage on the native FP4 kernels",
            f"{other} (give --model-dir so dyno can read config.json)",
        )
    ]


@rule("unified-memory-utilization", "trap 4: on unified memory the engine's share starves the OS")
def unified_memory_utilization(ctx: LintContext) -> list[Finding]:
    hw = ctx.hardware
    if hw is None or not hw.unified_memory or ctx.has_flag("--kv-cache-memory-bytes"):
        return []
    given = _float_flag(ctx, "--gpu-memory-utilization")
    util = given if given is not None else VLLM_DEFAULT_MEMORY_UTILIZATION
    safe = safe_memory_utilization(hw)
    what = f"--gpu-memory-utilization {util:.2f}" + ("" if given is not None else " (vLLM's default)")
    reserved = util * hw.memory_gb
    if util > safe + 1e-9:
        return [
            Finding(
                "unified-memory-utilization",
                "error",
                f"{what} reserves {reserved:.0f} of {hw.memory_gb:.0f} GB of memory the OS shares: "
                "the host runs out of memory (desktop freezes, OOM killer)",
                f"use at most {safe:.2f} on a headless box, "
                f"{DESKTOP_SAFE_UTILIZATION:.2f} on a desktop session",
            )
        ]
    if hw.is_gpu and util > DESKTOP_SAFE_UTILIZATION:
        return [
            Finding(
                "unified-memory-utilization",
                "info",
                f"{what} reserves {reserved:.0f} GB of unified memory: fine on a headless box, "
                "tight with a desktop session running",
                f"on a desktop, start at {DESKTOP_SAFE_UTILIZATION:.2f}",
            )
        ]
    return []


@rule("max-model-len-too-long", "vLLM refuses a context past the model's maximum")
def max_model_len_too_long(ctx: LintContext) -> list[Finding]:
    n = _int_flag(ctx, "--max-model-len")
    if ctx.model is None or n is None or n <= ctx.model.max_context:
        return []
    return [
        Finding(
            "max-model-len-too-long",
            "error",
            f"--max-model-len {n} is past {ctx.model.id}'s maximum context ({ctx.model.max_context})",
            f"use --max-model-len {ctx.model.max_context} or less",
        )
    ]


@rule("context-does-not-fit", "weights + KV cache for the context must fit in the memory given to vLLM")
def context_does_not_fit(ctx: LintContext) -> list[Finding]:
    hw, m, q = ctx.hardware, ctx.model, ctx.quant
    if hw is None or m is None or q is None:
        return []
    variant = m.variant(q.id) or m.variants[0]
    if variant.quant != q.id:
        return []
    context = _int_flag(ctx, "--max-model-len") or m.max_context
    seqs = _int_flag(ctx, "--max-num-seqs")
    util = _float_flag(ctx, "--gpu-memory-utilization") or VLLM_DEFAULT_MEMORY_UTILIZATION
    kv_dtype: KvDtype = "fp8" if str(ctx.flag("--kv-cache-dtype") or "auto").startswith("fp8") else "auto"
    text_only = ctx.has_flag("--language-model-only")
    one = fit(
        hw,
        m,
        variant,
        get_quant(q.id),
        context_tokens=min(context, m.max_context),
        sequences=1,
        kv_dtype=kv_dtype,
        memory_utilization=util,
        text_only=text_only,
    )
    if not one.fits:
        weights_gb = weights_bytes(m, variant, get_quant(q.id), text_only=text_only) / GB
        budget = memory_budget_gb(hw, util)
        return [
            Finding(
                "context-does-not-fit",
                "error",
                f"{m.id} ({q.id}) needs {weights_gb:.1f} GB of weights + "
                f"{one.kv_cache_gb:.1f} GB of KV cache for one {context}-token sequence + "
                f"~{hw.runtime_overhead_gb:.0f} GB overhead, but "
                f"{budget:.1f} GB is available on {hw.id} at utilisation {util:.2f}",
                f"lower --max-model-len (fits: {one.max_context_tokens}), use --kv-cache-dtype fp8, "
                "or a smaller quant",
            )
        ]
    if seqs is not None and seqs > one.max_sequences:
        return [
            Finding(
                "context-does-not-fit",
                "warn",
                f"--max-num-seqs {seqs} x --max-model-len {context} does not fit: the KV cache holds about "
                f"{one.max_sequences} such sequences, so vLLM will queue or preempt the rest",
                f"lower --max-num-seqs to {max(1, one.max_sequences)} or shorten --max-model-len",
            )
        ]
    return []


@rule("attention-backend-env-ignored", "Gemma 4 forces TRITON_ATTN (heterogeneous head dims)")
def attention_backend_env_ignored(ctx: LintContext) -> list[Finding]:
    if ctx.family != "gemma4":
        return []
    if "VLLM_ATTENTION_BACKEND" not in ctx.env_names() and not ctx.has_flag("--attention-backend"):
        return []
    return [
        Finding(
            "attention-backend-env-ignored",
            "warn",
            "an attention backend is forced for Gemma 4, whose 256/512 head dims make vLLM pick "
            "TRITON_ATTN itself (it logs the override): the setting is ignored",
            "drop VLLM_ATTENTION_BACKEND / --attention-backend; check the start-up log for the backend used",
        )
    ]


def moe_tuning_file_name(ctx: LintContext) -> str | None:
    """The fused-MoE tuning file vLLM looks for with this model, quant and GPU (None when unused)."""
    m, hw, q = ctx.model, ctx.hardware, ctx.quant
    if m is None or m.moe is None or hw is None or hw.cuda_device_name is None or q is None:
        return None
    if q.kind not in ("none", "fp8"):
        return None  # FP4/INT4 experts run through Marlin or other kernels without these files
    tp = _int_flag(ctx, "--tensor-parallel-size") or 1
    name = f"E={m.moe.experts},N={m.moe.expert_intermediate_size // tp},device_name={hw.cuda_device_name}"
    return name + (",dtype=fp8_w8a8.json" if q.kind == "fp8" else ".json")


@rule("moe-tuning-file", "trap 7: without a tuned MoE config ~20-25% of decode is left on the table")
def moe_tuning_file(ctx: LintContext) -> list[Finding]:
    name = moe_tuning_file_name(ctx)
    if name is None:
        return []
    fix = (
        f"tune it (vLLM's benchmarks/kernels/benchmark_moe.py --tune) and put {name} in "
        "vllm/model_executor/layers/fused_moe/configs/, or point VLLM_TUNED_CONFIG_FOLDER at it"
    )
    if ctx.moe_config_dir is not None:
        if (ctx.moe_config_dir / name).is_file():
            return []
        return [
            Finding(
                "moe-tuning-file",
                "warn",
                f"the installed vLLM ships no MoE tuning file {name}: it will log 'Using default MoE "
                "config. Performance might be sub-optimal!' and leave ~20-25% of decode on the table",
                fix,
            )
        ]
    return [
        Finding(
            "moe-tuning-file",
            "info",
            f"check the start-up log for 'Using default MoE config': vLLM looks for {name}; "
            "without it ~20-25% of decode is left on the table",
            fix,
        )
    ]


@rule("verify-startup-log", "trap 8: the start-up log tells which kernels were really chosen")
def verify_startup_log(ctx: LintContext) -> list[Finding]:
    hw = ctx.hardware
    if hw is None or not hw.is_gpu:
        return []
    checks = []
    if ctx.quant is not None and ctx.quant.kind == "fp4":
        checks.append("the NVFP4 MoE backend (MARLIN, not CUTLASS, on sm_12x) and the FP4 GEMM backend")
    if ctx.family == "gemma4":
        checks.append("the forced attention backend (TRITON_ATTN)")
    if not checks:
        return []
    checks += ["the KV-cache size in tokens", "the model's memory"]
    return [
        Finding(
            "verify-startup-log",
            "info",
            "after start-up, confirm in the log: " + "; ".join(checks),
            "`dyno logs` shows the log; dyno's log scanner reports these lines",
        )
    ]


@rule("model-rotation", "trap 11: one big model at a time; each switch is a cold start")
def model_rotation(ctx: LintContext) -> list[Finding]:
    hw, m, q = ctx.hardware, ctx.model, ctx.quant
    if hw is None or m is None or q is None or not hw.is_gpu:
        return []
    variant = m.variant(q.id)
    if variant is None:
        return []
    weights_gb = weights_bytes(m, variant, get_quant(q.id)) / GB
    if weights_gb < hw.memory_gb / 2 or ctx.has_flag("--enforce-eager"):
        return []
    return [
        Finding(
            "model-rotation",
            "info",
            f"{weights_gb:.0f} GB of weights: only one model like this fits on {hw.id}, and each switch "
            "is a cold start (torch.compile + CUDA graphs: ~5 min on a Spark)",
            "persist VLLM_CACHE_ROOT and keep each profile's flags byte-identical (the cache key hashes "
            "them), or use --enforce-eager (a few % decode on a bandwidth-bound box)",
        )
    ]


@rule("cpu-bf16-emulated", "a CPU without native bf16 emulates bf16 matmuls: float32 can be faster")
def cpu_bf16_emulated(ctx: LintContext) -> list[Finding]:
    """vLLM's CPU backend serves a BF16 checkpoint in bf16 unless told `--dtype float32`. Without
    AVX512-BF16/AMX (x86) or FEAT_BF16 (Arm) every bf16 matmul is converted to float32 on the fly;
    the rates measured on this CPU say by how much that costs, decode and prefill."""
    hw = ctx.hardware
    if hw is None or hw.is_gpu or hw.native_bf16 is not False or ctx.quant is None or ctx.quant.id != "bf16":
        return []
    dtype = ctx.flag("--dtype")
    if isinstance(dtype, str) and dtype.strip().lower() in ("float32", "float", "fp32"):
        return []
    bf16, fp32 = hw.matmul_rate("bfloat16"), hw.matmul_rate("float32")
    measured = ""
    if bf16 is not None and fp32 is not None:
        measured = (
            f": measured here, bf16 matmuls run at {bf16.decode_gflop_s:.1f} GFLOP/s at decode and "
            f"{bf16.prefill_gflop_s:.1f} at prefill, float32 at {fp32.decode_gflop_s:.1f} and "
            f"{fp32.prefill_gflop_s:.1f} (one core)"
        )
    return [
        Finding(
            "cpu-bf16-emulated",
            "warn",
            f"bf16 is emulated on this CPU ({missing_bf16(hw.isa_flags)}){measured}",
            "serve with --dtype float32 (twice the bytes, no emulation), or the GGUF through "
            "llama-server (`dyno up smollm2-llama` for the embedded model); `dyno tune --sweep "
            "dtype=bfloat16,float32` measures which wins here",
        )
    ]
