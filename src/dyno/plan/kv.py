"""KV-cache bytes: stored per sequence, and read per decoded token.

Per layer and token of context a KV cache holds K and V: 2 x kv_heads x
head_dim x dtype bytes. Sliding-window layers hold (and attend over) only the
last `window` tokens. Gemma 4 E2B/E4B's KV-shared layers hold no cache of
their own but still read the cache they share, so they count for reads and
not for storage.
"""

from __future__ import annotations

from typing import Literal

from dyno.catalog.types import AttentionGroup, Model

KvDtype = Literal["auto", "fp8"]
KV_DTYPES: tuple[KvDtype, ...] = ("auto", "fp8")


def kv_dtype_bytes(kv_dtype: KvDtype) -> float:
    # "auto" follows the model dtype, BF16 for every catalog model (an FP8
    # weight checkpoint still keeps a BF16 cache unless asked otherwise).
    return 1.0 if kv_dtype == "fp8" else 2.0


def _span(model: Model, g: AttentionGroup, context_tokens: int) -> int:
    if g.kind == "sliding" and model.sliding_window:
        return min(context_tokens, model.sliding_window)
    return context_tokens


def _per_token_per_layer(g: AttentionGroup, kv_dtype: KvDtype) -> float:
    return 2 * g.kv_heads * g.head_dim * kv_dtype_bytes(kv_dtype)


def kv_cache_bytes(model: Model, context_tokens: int, kv_dtype: KvDtype = "auto") -> float:
    """KV-cache bytes one sequence of `context_tokens` tokens holds."""
    return sum(
        g.kv_layers * _per_token_per_layer(g, kv_dtype) * _span(model, g, context_tokens)
        for g in model.attention
    )


def kv_read_bytes(model: Model, context_tokens: int, kv_dtype: KvDtype = "auto") -> float:
    """KV-cache bytes one decoded token reads at `context_tokens` of context."""
    return sum(
        g.layers * _per_token_per_layer(g, kv_dtype) * _span(model, g, context_tokens)
        for g in model.attention
    )


def kv_bytes_per_context_token(model: Model, kv_dtype: KvDtype = "auto") -> float:
    """Marginal KV bytes per extra token of context once every window is full (full-attention layers)."""
    return sum(
        g.kv_layers * _per_token_per_layer(g, kv_dtype)
        for g in model.attention
        if not (g.kind == "sliding" and model.sliding_window)
    )
