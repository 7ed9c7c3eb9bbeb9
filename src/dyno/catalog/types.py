"""The catalog's value types: hardware, quant formats, models, drafters (frozen, read-only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

AttentionKind = Literal["sliding", "global"]
# Tensor groups a quant variant may quantize; everything else stays BF16.
TensorGroup = Literal[
    "attention", "mlp", "experts", "embedding", "router", "vision", "audio", "per_layer_embeddings"
]


UPCAST_QUANT = "fp32"  # see Model.variant


@dataclass(frozen=True)
class MatmulRate:
    """One core's matmul rate for a dtype, at one token (decode) and at a 64-token block (prefill).

    A pass over n tokens spends 2 x params x max(1 / decode, n / prefill) seconds in matmuls:
    a few tokens cost about what one does (the weights are read once), many cost in proportion.
    """

    dtype: str
    decode_gflop_s: float
    prefill_gflop_s: float

    def seconds(self, params: float, tokens: int) -> float:
        return 2 * params * max(1 / self.decode_gflop_s, tokens / self.prefill_gflop_s) / 1e9


@dataclass(frozen=True)
class Hardware:
    id: str
    name: str
    aliases: tuple[str, ...]
    memory_gb: float
    memory_bandwidth_gb_s: float
    unified_memory: bool
    compute_capability: str | None  # "12.1"; None for a CPU
    native_fp8: bool
    native_fp4_moe: bool  # vLLM's native (CUTLASS/FlashInfer) FP4 MoE kernels work here
    bf16_dense_tflops: float
    cuda_device_name: str | None
    runtime_overhead_gb: float
    os_headroom_gb: float
    sources: Mapping[str, str] = field(default_factory=dict)
    estimated: Mapping[str, str] = field(default_factory=dict)
    measured: Mapping[str, str] = field(default_factory=dict)  # field -> how it was measured
    # A CPU's instruction-set flags and measured matmul rates (empty for a catalog GPU).
    isa_flags: tuple[str, ...] | None = None
    native_bf16: bool | None = None
    matmul: tuple[MatmulRate, ...] = ()

    def matmul_rate(self, dtype: str) -> MatmulRate | None:
        """The measured rate for a served dtype ("bfloat16", "float32"), None when not measured."""
        return next((m for m in self.matmul if m.dtype == dtype), None)

    @property
    def is_gpu(self) -> bool:
        return self.compute_capability is not None

    @property
    def sm(self) -> str | None:
        """`sm_121` for compute capability 12.1."""
        return None if self.compute_capability is None else "sm_" + self.compute_capability.replace(".", "")

    @property
    def is_sm12x(self) -> bool:
        """Blackwell consumer line (GB10, RTX 50, RTX PRO): no tcgen05/TMEM, FP4 MoE via Marlin."""
        return self.compute_capability is not None and self.compute_capability.startswith("12.")


@dataclass(frozen=True)
class QuantFormat:
    id: str
    name: str
    bits_per_weight: float
    bytes_per_weight: float  # including scales and zero points
    kind: Literal["none", "fp8", "fp4", "int4", "gguf"]
    vllm_quantization: str  # the --quantization value ("" for none)
    sources: Mapping[str, str] = field(default_factory=dict)
    estimated: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AttentionGroup:
    kind: AttentionKind
    layers: int
    head_dim: int
    kv_heads: int
    kv_layers: int  # layers with their own KV cache; the rest reuse an earlier layer's
    k_eq_v: bool = False


@dataclass(frozen=True)
class MlpGroup:
    layers: int
    intermediate_size: int


@dataclass(frozen=True)
class Moe:
    layers: int
    experts: int
    top_k: int
    expert_intermediate_size: int


@dataclass(frozen=True)
class FieldReport:
    """A decode speed people reported for a variant: context next to a ceiling, not a dyno measurement."""

    hardware: str  # a hardware id
    decode_tok_s: float  # single-stream, as reported
    source: str  # where it was reported, and what the report leaves unsaid


@dataclass(frozen=True)
class Variant:
    quant: str  # a QuantFormat id
    checkpoints: tuple[str, ...]  # known names, best first
    online: bool  # vLLM quantizes a BF16 checkpoint at load (--quantization)
    quantized: tuple[TensorGroup, ...]
    source: str
    field_reports: tuple[FieldReport, ...] = ()


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    family: str
    tokenizer: str  # models that share this id share a vocabulary and special tokens
    hub_id: str
    local: bool
    instruct: bool  # has a chat template
    instruct_variant: str | None  # for a base model: its -it sibling
    multimodal: bool
    modalities: tuple[str, ...]  # non-text inputs
    tool_call_parser: str | None
    reasoning_parser: str | None
    drafter: str | None  # matched MTP drafter id
    total_params_b: float
    total_params_scope: Literal["text", "all"]
    active_params_b: float
    hidden_size: int
    vocab_size: int
    tied_embeddings: bool
    max_context: int
    sliding_window: int | None
    num_attention_heads: int
    vision_params_b: float
    audio_params_b: float
    per_layer_embedding_params_b: float
    attention: tuple[AttentionGroup, ...]
    mlp: tuple[MlpGroup, ...]
    moe: Moe | None
    variants: tuple[Variant, ...]
    sources: Mapping[str, str] = field(default_factory=dict)
    estimated: Mapping[str, str] = field(default_factory=dict)

    @property
    def num_layers(self) -> int:
        return sum(g.layers for g in self.attention)

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def tool_capable(self) -> bool:
        return self.tool_call_parser is not None

    def variant(self, quant: str) -> Variant | None:
        """The variant in `quant`; "fp32" is the BF16 checkpoint served with `--dtype float32`
        (vLLM upcasts every tensor at load), which no catalog lists as a variant of its own."""
        if quant == UPCAST_QUANT and (bf16 := self.variant("bf16")) is not None:
            return replace(
                bf16,
                quant=UPCAST_QUANT,
                quantized=get_args(TensorGroup),
                source="the BF16 checkpoint served with --dtype float32",
                field_reports=(),
            )
        return next((v for v in self.variants if v.quant == quant), None)

    @property
    def quants(self) -> tuple[str, ...]:
        return tuple(v.quant for v in self.variants)


@dataclass(frozen=True)
class Drafter:
    id: str
    name: str
    hub_id: str
    target: str  # the model id it was trained against
    tokenizer: str
    method: str  # vLLM speculative method
    weights_gb: float
    sources: Mapping[str, str] = field(default_factory=dict)
    estimated: Mapping[str, str] = field(default_factory=dict)
