"""The launch recipe for a plan's chosen config: the flags that make the physics real.

Every flag added here answers a known trap: tool and reasoning parsers for
tool-capable models, text-only serving when speculating on a multimodal model,
Marlin for NVFP4 on sm_12x, a memory utilisation that leaves unified memory
room for the OS.
"""

from __future__ import annotations

import json
import math

from dyno.catalog import get_quant
from dyno.catalog.types import UPCAST_QUANT
from dyno.plan.recommend import Plan
from dyno.recipe.model import Recipe
from dyno.recipe.render import DEFAULT_IMAGE, DEFAULT_PORT

# NVFP4 on sm_12x: the native CUTLASS/FlashInfer FP4 kernels fail there; these
# route dense FP4 GEMMs and the FP4 MoE through Marlin (shared/DOMAIN.md).
NVFP4_MARLIN_ENV = (("VLLM_NVFP4_GEMM_BACKEND", "marlin"), ("VLLM_USE_FLASHINFER_MOE_FP4", "0"))


def speculative_config(plan: Plan) -> str | None:
    c = plan.chosen
    if c.spec_method is None or c.spec_k is None:
        return None
    cfg: dict[str, object] = {"method": c.spec_method, "num_speculative_tokens": c.spec_k}
    if c.spec_method == "mtp" and plan.drafter is not None:
        cfg["model"] = plan.drafter.hub_id
    elif c.spec_method == "draft_model" and plan.draft_model is not None:
        cfg["model"] = plan.draft_model.variants[0].checkpoints[0]
    elif c.spec_method == "ngram":
        cfg["prompt_lookup_min"] = 2
        cfg["prompt_lookup_max"] = 5
    return json.dumps(cfg, separators=(",", ":"))


def recipe_for(plan: Plan, *, port: int = DEFAULT_PORT, image: str | None = None) -> Recipe:
    """The recipe that launches `plan.chosen` on `plan.hardware`."""
    c, m, hw = plan.chosen, plan.model, plan.hardware
    quant = get_quant(c.quant)
    flags: list[str] = ["--max-model-len", str(plan.context_tokens)]
    env: list[tuple[str, str]] = []
    if plan.request.concurrency > 1:
        flags += ["--max-num-seqs", str(plan.request.concurrency)]
    if hw.is_gpu:
        if hw.unified_memory or plan.request.memory_utilization is not None:
            flags += ["--gpu-memory-utilization", f"{plan.memory_utilization:.2f}"]
    else:
        # vLLM's CPU worker otherwise reserves a fraction of the NUMA node and
        # refuses to start when that much is not free; an explicit size skips it
        kv_gb = max(1, math.ceil(c.fit.kv_cache_gb * 1.1))
        flags += ["--enforce-eager", "--kv-cache-memory-bytes", f"{kv_gb}G"]
    if c.quant == UPCAST_QUANT:
        flags += ["--dtype", "float32"]
    if c.online_quant and quant.vllm_quantization:
        flags += ["--quantization", quant.vllm_quantization]
    if c.kv_dtype != "auto":
        flags += ["--kv-cache-dtype", c.kv_dtype]
    if quant.kind == "fp4" and hw.is_sm12x:
        if m.is_moe:
            flags += ["--moe-backend", "marlin"]
        env += list(NVFP4_MARLIN_ENV)
    spec = speculative_config(plan)
    if spec is not None:
        flags += ["--speculative-config", spec]
        if m.multimodal:
            # some vLLM versions refuse speculative decoding for multimodal models
            limits = {mod: 0 for mod in m.modalities}
            flags += ["--limit-mm-per-prompt", json.dumps(limits, separators=(",", ":"))]
    if m.tool_call_parser:
        # without these, `tool_choice: "auto"` gets HTTP 400 (and routers silently fall back)
        flags += ["--enable-auto-tool-choice", "--tool-call-parser", m.tool_call_parser]
    if m.reasoning_parser:
        flags += ["--reasoning-parser", m.reasoning_parser]
    return Recipe(
        model=c.checkpoint,
        served_name=m.id,
        flags=tuple(flags),
        env=tuple(env),
        host="127.0.0.1",
        port=port,
        image=image or (DEFAULT_IMAGE if hw.is_gpu else None),
    )
