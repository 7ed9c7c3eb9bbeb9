"""Decode ceilings, the batch curve, memory fit and a prefill estimate.

Single-stream decode streams the active weights (and the KV cache it attends
over) once per token, so its ceiling is bandwidth / bytes per token. With B
sequences in flight one pass reads the weights once for all of them but each
sequence's KV cache separately; the pass is also bounded by compute
(2 FLOPs per active weight per token). These are ceilings: real engines reach
a fraction of them, and dyno prints measurements next to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dyno.catalog import find_model, get_quant
from dyno.catalog.isa import missing_bf16
from dyno.catalog.types import UPCAST_QUANT, Hardware, MatmulRate, Model, QuantFormat, Variant
from dyno.plan.kv import KvDtype, kv_cache_bytes, kv_read_bytes
from dyno.plan.weights import GB, param_counts, step_weight_bytes, weights_bytes

# A served dtype (vLLM's --dtype) <-> the catalog weight format its bytes are costed at.
DTYPE_QUANT = {"float32": UPCAST_QUANT, "bfloat16": "bf16"}
QUANT_DTYPE = {q: d for d, q in DTYPE_QUANT.items()}

# Prefill runs compute-bound matmuls; a well-tuned engine reaches roughly half
# of the datasheet's dense peak on long prompts. An estimate, labelled as such.
PREFILL_MFU = 0.5


@dataclass(frozen=True)
class TokenBytes:
    """Bytes one single-stream decoded token reads, by part."""

    attention: float
    mlp: float
    experts: float
    router: float
    lm_head: float
    kv_cache: float

    @property
    def weights(self) -> float:
        return self.attention + self.mlp + self.experts + self.router + self.lm_head

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache


def bytes_per_token(
    model: Model, variant: Variant, quant: QuantFormat, *, context_tokens: int, kv_dtype: KvDtype = "auto"
) -> TokenBytes:
    w = step_weight_bytes(model, variant, quant, tokens=1)
    return TokenBytes(
        attention=w.attention,
        mlp=w.mlp,
        experts=w.experts,
        router=w.router,
        lm_head=w.lm_head,
        kv_cache=kv_read_bytes(model, context_tokens, kv_dtype),
    )


def decode_ceiling_tok_s(hardware: Hardware, token_bytes: float) -> float:
    """Single-stream ceiling: every token streams `token_bytes` from memory."""
    return hardware.memory_bandwidth_gb_s * GB / token_bytes


def attention_flops_per_token(model: Model, context_tokens: int) -> float:
    """Score and value matmuls of one query token against its (windowed) context."""
    total = 0.0
    for g in model.attention:
        span = context_tokens
        if g.kind == "sliding" and model.sliding_window:
            span = min(span, model.sliding_window)
        total += g.layers * 4 * model.num_attention_heads * g.head_dim * span
    return total


def measured_rate(hardware: Hardware, quant: QuantFormat) -> MatmulRate | None:
    """This CPU's measured matmul rate for the dtype a format is served at (None on a GPU, or for a
    quantized format, whose kernels the probe does not time)."""
    dtype = QUANT_DTYPE.get(quant.id)
    return None if hardware.is_gpu or dtype is None else hardware.matmul_rate(dtype)


def matmul_seconds(
    hardware: Hardware, model: Model, quant: QuantFormat, tokens: int, context_tokens: int
) -> float:
    """Seconds one pass over `tokens` tokens spends computing: at the CPU's measured rate for the
    served dtype where there is one (weights only: attention is small at these sizes), else at the
    datasheet's dense peak."""
    rate = measured_rate(hardware, quant)
    if rate is not None:
        return rate.seconds(param_counts(model).active, tokens)
    flops = tokens * (2 * param_counts(model).active + attention_flops_per_token(model, context_tokens))
    return flops / (hardware.bf16_dense_tflops * 1e12)


def decode_bound_tok_s(hardware: Hardware, model: Model, quant: QuantFormat, token_bytes: float) -> float:
    """Single-stream ceiling: the bandwidth bound, or the compute bound where that is lower."""
    return min(decode_ceiling_tok_s(hardware, token_bytes), 1 / matmul_seconds(hardware, model, quant, 1, 0))


@dataclass(frozen=True)
class BatchPoint:
    concurrency: int
    aggregate_tok_s: float  # ceiling: MoE sequences sharing their experts
    per_request_tok_s: float
    bound: str  # "bandwidth" or "compute"
    moe_independent_aggregate_tok_s: float  # the same with independent routing (= ceiling if dense)


def batch_point(
    hardware: Hardware,
    model: Model,
    variant: Variant,
    quant: QuantFormat,
    *,
    concurrency: int,
    context_tokens: int,
    kv_dtype: KvDtype = "auto",
) -> BatchPoint:
    """Ceiling with `concurrency` sequences decoding together, each at `context_tokens`."""
    kv = concurrency * kv_read_bytes(model, context_tokens, kv_dtype)
    bw = hardware.memory_bandwidth_gb_s * GB
    t_memory = (step_weight_bytes(model, variant, quant, tokens=concurrency).total + kv) / bw
    t_indep = (step_weight_bytes(model, variant, quant, concurrency, routing="independent").total + kv) / bw
    t_compute = matmul_seconds(hardware, model, quant, concurrency, context_tokens)
    agg = concurrency / max(t_memory, t_compute)
    bound = "bandwidth" if t_memory >= t_compute else "compute"
    return BatchPoint(concurrency, agg, agg / concurrency, bound, concurrency / max(t_indep, t_compute))


def prefill_estimate_s(
    hardware: Hardware, model: Model, prompt_tokens: int, quant: QuantFormat | None = None
) -> float:
    """Seconds to prefill `prompt_tokens` (an estimate: compute-bound at PREFILL_MFU of peak, or on a
    CPU at the rate measured for the served dtype's matmuls at a prefill shape)."""
    rate = measured_rate(hardware, quant) if quant is not None else None
    linear = 2 * param_counts(model).active * prompt_tokens
    attn = 0.0
    for g in model.attention:
        w = model.sliding_window if g.kind == "sliding" and model.sliding_window else None
        n = prompt_tokens
        # causal: token i attends over min(i, window) earlier tokens
        pairs = n * n / 2 if w is None or n <= w else w * w / 2 + (n - w) * w
        attn += g.layers * 4 * model.num_attention_heads * g.head_dim * pairs
    if rate is not None:
        return (linear + attn) / (rate.prefill_gflop_s * 1e9)
    return (linear + attn) / (hardware.bf16_dense_tflops * 1e12 * PREFILL_MFU)


@dataclass(frozen=True)
class Fit:
    """Memory fit of weights + KV cache for `sequences` x `context_tokens`."""

    weights_gb: float
    kv_cache_gb: float
    overhead_gb: float
    budget_gb: float
    memory_utilization: float
    fits: bool
    max_context_tokens: int  # for one sequence, capped at the model's max context
    max_sequences: int  # at the requested context

    @property
    def needed_gb(self) -> float:
        return self.weights_gb + self.kv_cache_gb + self.overhead_gb


def safe_memory_utilization(hardware: Hardware) -> float:
    """The highest --gpu-memory-utilization that leaves the OS its headroom (1.0 when not shared)."""
    if not hardware.unified_memory:
        return 1.0
    return max(0.0, (hardware.memory_gb - hardware.os_headroom_gb) / hardware.memory_gb)


def memory_budget_gb(hardware: Hardware, memory_utilization: float) -> float:
    budget = hardware.memory_gb * memory_utilization
    if hardware.unified_memory:
        budget = min(budget, hardware.memory_gb - hardware.os_headroom_gb)
    return budget


def fit(
    hardware: Hardware,
    model: Model,
    variant: Variant,
    quant: QuantFormat,
    *,
    context_tokens: int,
    sequences: int,
    kv_dtype: KvDtype = "auto",
    memory_utilization: float,
    text_only: bool = False,
) -> Fit:
    weights_gb = weights_bytes(model, variant, quant, text_only=text_only) / GB
    budget = memory_budget_gb(hardware, memory_utilization)
    free_gb = budget - weights_gb - hardware.runtime_overhead_gb
    kv_gb = sequences * kv_cache_bytes(model, context_tokens, kv_dtype) / GB
    per_seq_gb = kv_cache_bytes(model, context_tokens, kv_dtype) / GB
    return Fit(
        weights_gb=weights_gb,
        kv_cache_gb=kv_gb,
        overhead_gb=hardware.runtime_overhead_gb,
        budget_gb=budget,
        memory_utilization=memory_utilization,
        fits=free_gb >= kv_gb and context_tokens <= model.max_context,
        max_context_tokens=max_context_that_fits(model, free_gb, kv_dtype),
        max_sequences=max(0, int(free_gb / per_seq_gb)) if per_seq_gb > 0 and free_gb > 0 else 0,
    )


def max_context_that_fits(model: Model, free_gb: float, kv_dtype: KvDtype) -> int:
    """Longest single-sequence context whose KV cache fits in `free_gb` (0 when none does)."""
    if free_gb <= 0:
        return 0
    lo, hi = 0, model.max_context
    if kv_cache_bytes(model, hi, kv_dtype) / GB <= free_gb:
        return hi
    while lo < hi:  # kv_cache_bytes grows with context: bisect
        mid = (lo + hi + 1) // 2
        if kv_cache_bytes(model, mid, kv_dtype) / GB <= free_gb:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True)
class CeilingInputs:
    """What a stored run keeps so its decode figures can be set against the roofline later.

    The bandwidth is stored, not looked up again: the `cpu` entry is measured on
    the machine that ran the benchmark, and a report rendered elsewhere must use
    that machine's figure. On a CPU the matmul rate for the served dtype bounds
    decode too (`compute_tok_s`): the ceiling is the lower of the two.
    """

    hardware: str
    memory_bandwidth_gb_s: float
    model: str  # catalog model id
    quant: str  # the variant's quant id
    dtype: str | None = None  # the served dtype when it is not the variant's (vLLM --dtype)
    compute_tok_s: float | None = None  # the matmul bound for that dtype, one stream
    bf16_emulated: str | None = (
        None  # what this CPU lacks for native bf16 ("no AVX512-BF16/AMX"); None: has it
    )

    def to_dict(self) -> dict[str, object]:
        return {
            "hardware": self.hardware,
            "memory_bandwidth_gb_s": self.memory_bandwidth_gb_s,
            "model": self.model,
            "quant": self.quant,
            "dtype": self.dtype,
            "compute_tok_s": self.compute_tok_s,
            "bf16_emulated": self.bf16_emulated,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object] | None) -> CeilingInputs | None:
        if not d:
            return None
        try:
            bandwidth = float(str(d["memory_bandwidth_gb_s"]))
            compute = d.get("compute_tok_s")
            emulated = d.get("bf16_emulated")
            return cls(
                str(d["hardware"]),
                bandwidth,
                str(d["model"]),
                str(d["quant"]),
                str(d["dtype"]) if d.get("dtype") else None,
                float(str(compute)) if compute is not None else None,
                str(emulated) if emulated else None,
            )
        except (KeyError, TypeError, ValueError):
            return None

    def served_quant(self) -> str:
        """The weight format the bandwidth bound costs: the variant's, or the served dtype's."""
        if self.dtype and self.quant in DTYPE_QUANT.values():
            return DTYPE_QUANT.get(self.dtype, self.quant)
        return self.quant

    def why_below(self, bandwidth_tok_s: float) -> str | None:
        """Why the ceiling is under the bandwidth bound, for a sentence (None when it is not)."""
        if self.compute_tok_s is None or self.compute_tok_s >= bandwidth_tok_s:
            return None
        what = f"{self.dtype or 'bfloat16'} matmuls"
        if (self.dtype or "bfloat16") == "bfloat16" and self.bf16_emulated:
            return (
                f"compute-bound: bf16 is emulated on this CPU ({self.bf16_emulated}), its matmuls cap decode "
                f"at {self.compute_tok_s:.0f} tok/s where bandwidth allows {bandwidth_tok_s:.0f}"
            )
        return (
            f"compute-bound: {what} cap decode at {self.compute_tok_s:.0f} tok/s, "
            f"bandwidth at {bandwidth_tok_s:.0f}"
        )


def ceiling_inputs(
    hardware: Hardware, model_ref: str, quant: str | None = None, dtype: str | None = None
) -> CeilingInputs | None:
    """Roofline inputs for a served model name or path; None when the catalog does not know the model.

    The variant is the one in `quant` when the server says which weights it loaded (llama-server
    serves the GGUF as is), else the checkpoint's when its name says, else the model's first.
    `dtype` is the dtype vLLM serves it at, when the launch command says (`--dtype float32`).
    """
    found = find_model(model_ref)
    if found is None:
        return None
    model, variant = found
    loaded = next((v for v in model.variants if quant and v.quant == quant), None)
    variant = loaded or variant or (model.variants[0] if model.variants else None)
    if variant is None:
        return None
    unquantized = get_quant(variant.quant).kind == "none"
    if dtype in ("auto", None) or not unquantized:
        dtype = None  # a quantized (GGUF) variant runs its own kernels: no dtype bound is measured for it
    # the matmul bound only where this CPU's rate for the served dtype was measured
    rate = measured_rate(hardware, get_quant(DTYPE_QUANT.get(dtype or "bfloat16", variant.quant)))
    compute = 1 / rate.seconds(param_counts(model).active, 1) if unquantized and rate else None
    return CeilingInputs(
        hardware.id,
        hardware.memory_bandwidth_gb_s,
        model.id,
        variant.quant,
        dtype,
        compute,
        missing_bf16(hardware.isa_flags) if hardware.native_bf16 is False else None,
    )


def bandwidth_ceiling_tok_s(inputs: CeilingInputs, context_tokens: int) -> float | None:
    """The single-stream bandwidth bound at `context_tokens` for the served weight format."""
    found = find_model(inputs.model)
    if found is None:
        return None
    model = found[0]
    variant = model.variant(inputs.served_quant())
    if variant is None:
        return None
    tb = bytes_per_token(model, variant, get_quant(variant.quant), context_tokens=context_tokens)
    return inputs.memory_bandwidth_gb_s * GB / tb.total


def ceiling_tok_s(inputs: CeilingInputs, context_tokens: int) -> float | None:
    """The single-stream decode ceiling at `context_tokens` (prompt + tokens generated so far):
    the bandwidth bound, or the matmul bound where that is lower (a CPU without native bf16)."""
    bw = bandwidth_ceiling_tok_s(inputs, context_tokens)
    if bw is None or inputs.compute_tok_s is None:
        return bw
    return min(bw, inputs.compute_tok_s)


def served_model_ceiling_tok_s(hardware: Hardware, model_ref: str, context_tokens: int) -> float | None:
    """The single-stream decode ceiling for a served model name, or None when the catalog does not know it.

    For printing next to a measured decode figure ("bandwidth achieved").
    """
    inputs = ceiling_inputs(hardware, model_ref)
    return None if inputs is None else ceiling_tok_s(inputs, context_tokens)
