"""Parameter and byte counts from a model's architecture, tensor group by tensor group.

Counts are for the runtime (vLLM), which is what reads memory: on Gemma 4's
`attention_k_eq_v` layers the checkpoint has no v_proj, but vLLM loads K into
both the K and V slots, so V is counted as stored and read.

A decoded token reads: every attention and dense-MLP weight, the router, the
shared/dense MLP and only the top-k experts of each MoE layer, and the output
projection (vocab x hidden: unquantized in most checkpoints, and read every
token even when it is tied to the input embedding). The input embedding is a
lookup of one row, as are Gemma 4's per-layer embeddings: both are stored,
not streamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dyno.catalog.types import AttentionGroup, Model, QuantFormat, TensorGroup, Variant

BF16_BYTES = 2.0
GB = 1e9


def attention_params_per_layer(model: Model, g: AttentionGroup) -> int:
    q = model.num_attention_heads * g.head_dim
    kv = g.kv_heads * g.head_dim
    # q, k, v (k_eq_v still gets a V slot at run time), o
    return model.hidden_size * (q + 2 * kv) + q * model.hidden_size


def attention_params(model: Model) -> int:
    return sum(g.layers * attention_params_per_layer(model, g) for g in model.attention)


def mlp_params(model: Model) -> int:
    return sum(g.layers * 3 * model.hidden_size * g.intermediate_size for g in model.mlp)


def expert_params(model: Model) -> int:
    """One expert of one layer (gate, up, down)."""
    if model.moe is None:
        return 0
    return 3 * model.hidden_size * model.moe.expert_intermediate_size


def router_params(model: Model) -> int:
    return 0 if model.moe is None else model.moe.layers * model.hidden_size * model.moe.experts


def embedding_params(model: Model) -> int:
    return model.vocab_size * model.hidden_size


Routing = Literal["shared", "independent"]


def expected_experts_touched(experts: int, top_k: int, tokens: int, routing: Routing = "shared") -> float:
    """Distinct experts a MoE layer reads for `tokens` tokens in one forward pass.

    "shared": every token picks the same top_k experts, the fewest bytes a pass
    can read, so ceilings built on it are upper bounds. "independent": each
    token picks top_k experts independently and uniformly, the most a pass
    touches on average; real routing lies between (neighbouring tokens of one
    sequence overlap a lot, unrelated sequences less).
    """
    if tokens <= 1 or routing == "shared":
        return float(min(top_k, experts))
    miss = (1.0 - top_k / experts) ** tokens
    return experts * (1.0 - miss)


@dataclass(frozen=True)
class ParamCounts:
    attention: int
    mlp: int
    experts_all: int
    experts_active: int  # top-k per layer, one token
    router: int
    embedding: int  # input table
    lm_head: int  # output projection as stored (0 when tied: it is the embedding)
    per_layer_embeddings: int
    vision: int
    audio: int

    @property
    def text_total(self) -> int:
        return (
            self.attention
            + self.mlp
            + self.experts_all
            + self.router
            + self.embedding
            + self.lm_head
            + self.per_layer_embeddings
        )

    @property
    def total(self) -> int:
        return self.text_total + self.vision + self.audio

    @property
    def active(self) -> int:
        """Weights a decoded token reads, output projection included."""
        out_proj = self.lm_head or self.embedding
        return self.attention + self.mlp + self.experts_active + self.router + out_proj


def param_counts(model: Model) -> ParamCounts:
    moe = model.moe
    emb = embedding_params(model)
    return ParamCounts(
        attention=attention_params(model),
        mlp=mlp_params(model),
        experts_all=0 if moe is None else moe.layers * moe.experts * expert_params(model),
        experts_active=0 if moe is None else moe.layers * moe.top_k * expert_params(model),
        router=router_params(model),
        embedding=emb,
        lm_head=0 if model.tied_embeddings else emb,
        per_layer_embeddings=round(model.per_layer_embedding_params_b * 1e9),
        vision=round(model.vision_params_b * 1e9),
        audio=round(model.audio_params_b * 1e9),
    )


def _bpw(group: TensorGroup, variant: Variant, quant: QuantFormat) -> float:
    return quant.bytes_per_weight if group in variant.quantized else BF16_BYTES


def weights_bytes(model: Model, variant: Variant, quant: QuantFormat, *, text_only: bool = False) -> float:
    """Bytes the engine holds for the weights (everything stored, encoders unless text_only)."""
    p = param_counts(model)
    b = (
        p.attention * _bpw("attention", variant, quant)
        + p.mlp * _bpw("mlp", variant, quant)
        + p.experts_all * _bpw("experts", variant, quant)
        + p.router * _bpw("router", variant, quant)
        + p.embedding * _bpw("embedding", variant, quant)
        + p.lm_head * _bpw("embedding", variant, quant)
        + p.per_layer_embeddings * _bpw("per_layer_embeddings", variant, quant)
    )
    if not text_only:
        b += p.vision * _bpw("vision", variant, quant) + p.audio * _bpw("audio", variant, quant)
    return b


@dataclass(frozen=True)
class StepWeightBytes:
    """Weight bytes one forward pass over `tokens` tokens reads, by tensor group."""

    attention: float
    mlp: float
    experts: float
    router: float
    lm_head: float
    experts_per_layer: float  # distinct experts read per MoE layer

    @property
    def total(self) -> float:
        return self.attention + self.mlp + self.experts + self.router + self.lm_head


def step_weight_bytes(
    model: Model, variant: Variant, quant: QuantFormat, tokens: int = 1, routing: Routing = "shared"
) -> StepWeightBytes:
    """Weights read by one forward pass that carries `tokens` tokens (decode 1, verify k+1, batch B).

    Dense weights are read once per pass whatever the token count; each MoE
    layer reads the union of the experts its tokens route to (see `routing`).
    """
    p = param_counts(model)
    touched = 0.0
    experts = 0.0
    if model.moe is not None:
        touched = expected_experts_touched(model.moe.experts, model.moe.top_k, tokens, routing)
        experts = model.moe.layers * touched * expert_params(model) * _bpw("experts", variant, quant)
    out_proj = p.lm_head or p.embedding
    return StepWeightBytes(
        attention=p.attention * _bpw("attention", variant, quant),
        mlp=p.mlp * _bpw("mlp", variant, quant),
        experts=experts,
        router=p.router * _bpw("router", variant, quant),
        lm_head=out_proj * _bpw("embedding", variant, quant),
        experts_per_layer=touched,
    )
