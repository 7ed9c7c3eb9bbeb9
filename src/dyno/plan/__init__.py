"""Serving physics: bytes per token, decode ceilings, memory fit, speculative decoding, recommendations.

Pure functions over catalog entries; nothing here starts or reaches a server.
"""

from dyno.plan.kv import KV_DTYPES, KvDtype, kv_cache_bytes, kv_read_bytes
from dyno.plan.recommend import Candidate, Goal, Plan, PlanRequest, make_plan
from dyno.plan.roofline import (
    BatchPoint,
    CeilingInputs,
    Fit,
    TokenBytes,
    batch_point,
    bytes_per_token,
    ceiling_inputs,
    ceiling_tok_s,
    decode_ceiling_tok_s,
    fit,
    prefill_estimate_s,
    served_model_ceiling_tok_s,
)
from dyno.plan.spec import (
    SPEC_METHODS,
    SpecMethod,
    SpecPoint,
    best_k,
    expected_tokens_per_step,
    spec_curve,
    spec_point,
)
from dyno.plan.weights import param_counts, step_weight_bytes, weights_bytes

__all__ = [
    "KV_DTYPES",
    "SPEC_METHODS",
    "BatchPoint",
    "Candidate",
    "CeilingInputs",
    "Fit",
    "Goal",
    "KvDtype",
    "Plan",
    "PlanRequest",
    "SpecMethod",
    "SpecPoint",
    "TokenBytes",
    "batch_point",
    "best_k",
    "bytes_per_token",
    "ceiling_inputs",
    "ceiling_tok_s",
    "decode_ceiling_tok_s",
    "expected_tokens_per_step",
    "fit",
    "kv_cache_bytes",
    "kv_read_bytes",
    "make_plan",
    "param_counts",
    "prefill_estimate_s",
    "served_model_ceiling_tok_s",
    "spec_curve",
    "spec_point",
    "step_weight_bytes",
    "weights_bytes",
]
