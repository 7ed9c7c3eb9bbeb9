"""Rank candidate serving configs (quant x speculative method/k x KV dtype) for a box and a model.

Every candidate carries its physics ceiling and its memory fit. The ranking
multiplies the ceiling by a kernel-path factor where vLLM runs a format
without native kernels (e.g. FP4 through Marlin on sm_12x): the ceiling stays
the physics, the factor only orders configs, and both are printed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from dyno.catalog import get_drafter, get_model, get_quant
from dyno.catalog.types import UPCAST_QUANT, Drafter, Hardware, Model, QuantFormat, Variant
from dyno.errors import UsageError
from dyno.plan.kv import KV_DTYPES, KvDtype
from dyno.plan.roofline import (
    BatchPoint,
    Fit,
    TokenBytes,
    batch_point,
    bytes_per_token,
    decode_bound_tok_s,
    fit,
    prefill_estimate_s,
    safe_memory_utilization,
)
from dyno.plan.spec import (
    DEFAULT_ACCEPTANCE,
    Acceptance,
    SpecMethod,
    SpecPoint,
    best_k,
    drafter_bytes_per_pass,
    spec_curve,
    spec_point,
)

Goal = Literal["latency", "throughput"]
DEFAULT_CONTEXT = 32768
DISCRETE_MEMORY_UTILIZATION = 0.90  # vLLM's own default
BATCH_STEPS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
PREFILL_PROMPTS = (1024, 8192, 32768, 131072)

# Kernel-path factors: estimates, not measurements. Field reports on GB10
# show FP8 ahead of NVFP4 there although NVFP4 reads fewer bytes, because
# sm_12x has no native FP4 MoE kernels and Marlin dequantises FP4 to BF16
# in-kernel (W4A16); FP8 Marlin on pre-Hopper parts pays a smaller toll.
MARLIN_FP4_FACTOR = 0.6
MARLIN_W8A16_FACTOR = 0.8
INT4_MOE_FACTOR = 0.6
INT4_DENSE_FACTOR = 0.8
GGUF_FACTOR = 0.5


@dataclass(frozen=True)
class PlanRequest:
    context_tokens: int | None = None
    concurrency: int = 1
    quant: str | None = None
    kv_dtype: KvDtype | None = None
    spec_method: SpecMethod | None = None
    spec_k: int | None = None
    acceptance: Acceptance | None = None
    goal: Goal = "latency"
    memory_utilization: float | None = None
    draft_model: str | None = None  # catalog model id, for spec_method draft_model


@dataclass(frozen=True)
class Candidate:
    quant: str
    checkpoint: str
    online_quant: bool
    kv_dtype: KvDtype
    spec_method: SpecMethod | None
    spec_k: int | None
    acceptance: Acceptance | None
    acceptance_assumed: bool
    fit: Fit
    token_bytes: TokenBytes
    decode_ceiling_tok_s: float
    spec: SpecPoint | None
    spec_curve: tuple[SpecPoint, ...]
    batch: BatchPoint
    kernel_factor: float
    notes: tuple[str, ...] = field(default=())

    @property
    def single_stream_ceiling_tok_s(self) -> float:
        return self.spec.decode_ceiling_spec_tok_s if self.spec else self.decode_ceiling_tok_s

    def score(self, goal: Goal) -> float:
        """What the ranking orders by: the ceiling, made conservative where MoE routing is uncertain.

        Speculation on a MoE model is scored as if each draft position pulled
        in its own experts, and a batch as if each sequence did: it must pay
        off even then. The printed ceilings stay the upper bounds.
        """
        if goal == "throughput":
            raw = self.batch.moe_independent_aggregate_tok_s
        elif self.spec is not None:
            raw = self.spec.moe_independent_tok_s
        else:
            raw = self.decode_ceiling_tok_s
        return raw * self.kernel_factor

    @property
    def label(self) -> str:
        spec = f"{self.spec_method} k={self.spec_k}" if self.spec_method else "no spec"
        return f"{self.quant} / kv {self.kv_dtype} / {spec}"


@dataclass(frozen=True)
class Plan:
    hardware: Hardware
    model: Model
    request: PlanRequest
    context_tokens: int
    memory_utilization: float
    chosen: Candidate
    candidates: tuple[Candidate, ...]  # ranked, best first
    batch_curve: tuple[BatchPoint, ...]
    prefill_estimate_s: tuple[tuple[int, float], ...]
    drafter: Drafter | None
    draft_model: Model | None
    notes: tuple[str, ...]


def kernel_factor(hardware: Hardware, model: Model, quant: QuantFormat) -> tuple[float, str | None]:
    """Ranking factor for the kernel path vLLM takes for this format here, with the reason."""
    if not hardware.is_gpu:
        return 1.0, None
    sm = hardware.sm
    if quant.kind == "fp4" and not hardware.native_fp4_moe:
        return MARLIN_FP4_FACTOR, f"FP4 runs through Marlin (W4A16, dequantised in-kernel) on {sm}"
    if quant.kind == "fp8" and not hardware.native_fp8:
        return MARLIN_W8A16_FACTOR, f"no FP8 tensor cores on {sm}: FP8 runs as W8A16 through Marlin"
    if quant.kind == "int4":
        f = INT4_MOE_FACTOR if model.is_moe else INT4_DENSE_FACTOR
        return f, "INT4 runs as W4A16 through Marlin"
    if quant.kind == "gguf":
        return GGUF_FACTOR, "vLLM's GGUF path is experimental and not its fast path"
    return 1.0, None


def default_memory_utilization(hardware: Hardware) -> float:
    if hardware.unified_memory:
        # the highest value that leaves the OS its headroom, on a 0.05 grid
        return math.floor(safe_memory_utilization(hardware) * 20) / 20
    return DISCRETE_MEMORY_UTILIZATION


def _quant_options(hardware: Hardware, model: Model, req: PlanRequest) -> list[tuple[Variant, QuantFormat]]:
    if req.quant is not None:
        v = model.variant(req.quant)
        if v is None:
            raise UsageError(f"{model.id} has no {req.quant!r} variant; it has: {', '.join(model.quants)}")
        return [(v, get_quant(v.quant))]
    out = []
    for v in model.variants:
        q = get_quant(v.quant)
        if q.kind == "gguf":
            continue  # only when asked for: vLLM's GGUF path is experimental
        if not hardware.is_gpu and q.kind != "none":
            continue  # vLLM's CPU backend serves BF16
        out.append((v, q))
    upcast = model.variant(UPCAST_QUANT)
    if not hardware.is_gpu and upcast is not None and hardware.matmul_rate("float32") is not None:
        # On a CPU the measured matmul rates decide: float32 reads twice the bytes of bf16 but
        # runs at full speed where bf16 is emulated (no AVX512-BF16/AMX), so it is a candidate.
        out.append((upcast, get_quant(UPCAST_QUANT)))
    return out


def _spec_options(model: Model, hardware: Hardware, req: PlanRequest) -> list[SpecMethod | None]:
    if req.spec_method is not None:
        return [req.spec_method]
    if req.goal == "throughput":
        return [None]  # a full batch already shares each weight read; drafts add verify work
    options: list[SpecMethod | None] = [None, "ngram"]
    if model.drafter:
        options.append("mtp")
    return options


def _spec_for(
    hardware: Hardware,
    model: Model,
    variant: Variant,
    quant: QuantFormat,
    kv_dtype: KvDtype,
    method: SpecMethod,
    req: PlanRequest,
    context: int,
    drafter: Drafter | None,
    draft_model: Model | None,
) -> tuple[SpecPoint, tuple[SpecPoint, ...], Acceptance, bool]:
    acceptance: Acceptance = req.acceptance if req.acceptance is not None else DEFAULT_ACCEPTANCE[method]
    d_bytes = 0.0
    if method == "mtp":
        d_bytes = drafter_bytes_per_pass("mtp", drafter=drafter)
    elif method == "draft_model":
        assert draft_model is not None
        dv = draft_model.variants[0]
        d_tb = bytes_per_token(
            draft_model, dv, get_quant(dv.quant), context_tokens=context, kv_dtype=kv_dtype
        )
        d_bytes = drafter_bytes_per_pass("draft_model", draft_model_bytes=d_tb.total)
    curve = tuple(
        spec_curve(
            hardware,
            model,
            variant,
            quant,
            acceptance=acceptance,
            drafter_bytes=d_bytes,
            context_tokens=context,
            kv_dtype=kv_dtype,
        )
    )
    if req.spec_k is not None:
        point = spec_point(
            hardware,
            model,
            variant,
            quant,
            k=req.spec_k,
            acceptance=acceptance,
            drafter_bytes=d_bytes,
            context_tokens=context,
            kv_dtype=kv_dtype,
        )
    else:
        point = best_k(curve)
    return point, curve, acceptance, req.acceptance is None


def _resolve_drafters(model: Model, req: PlanRequest) -> tuple[Drafter | None, Model | None]:
    drafter = get_drafter(model.drafter) if model.drafter else None
    draft_model = None
    if req.spec_method == "mtp" and drafter is None:
        raise UsageError(f"{model.id} has no MTP drafter in the catalog; try --spec-method ngram")
    if req.spec_method == "draft_model":
        if not req.draft_model:
            raise UsageError("--spec-method draft_model needs --draft-model ID (a smaller catalog model)")
        draft_model = get_model(req.draft_model)
        if draft_model.tokenizer != model.tokenizer:
            raise UsageError(f"draft model {draft_model.id} does not share {model.id}'s tokenizer")
    return drafter, draft_model


def make_plan(hardware: Hardware, model: Model, req: PlanRequest | None = None) -> Plan:
    """Rank every candidate config for `model` on `hardware` and pick the best that fits."""
    req = req or PlanRequest()
    if req.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    context = req.context_tokens or min(model.max_context, DEFAULT_CONTEXT)
    if context < 1:
        raise UsageError("--context must be at least 1")
    util = req.memory_utilization or default_memory_utilization(hardware)
    drafter, draft_model = _resolve_drafters(model, req)
    kv_options: Sequence[KvDtype] = (
        [req.kv_dtype]
        if req.kv_dtype
        else [k for k in KV_DTYPES if k == "auto" or (hardware.is_gpu and hardware.native_fp8)]
    )
    notes: list[str] = []
    if context > model.max_context:
        notes.append(f"context {context} exceeds the model's maximum ({model.max_context})")
    candidates: list[Candidate] = []
    for variant, quant in _quant_options(hardware, model, req):
        factor, why = kernel_factor(hardware, model, quant)
        for kv_dtype in kv_options:
            tb = bytes_per_token(model, variant, quant, context_tokens=context, kv_dtype=kv_dtype)
            base = Candidate(
                quant=variant.quant,
                checkpoint=variant.checkpoints[0],
                online_quant=variant.online,
                kv_dtype=kv_dtype,
                spec_method=None,
                spec_k=None,
                acceptance=None,
                acceptance_assumed=False,
                fit=fit(
                    hardware,
                    model,
                    variant,
                    quant,
                    context_tokens=context,
                    sequences=req.concurrency,
                    kv_dtype=kv_dtype,
                    memory_utilization=util,
                ),
                token_bytes=tb,
                decode_ceiling_tok_s=decode_bound_tok_s(hardware, model, quant, tb.total),
                spec=None,
                spec_curve=(),
                batch=batch_point(
                    hardware,
                    model,
                    variant,
                    quant,
                    concurrency=req.concurrency,
                    context_tokens=context,
                    kv_dtype=kv_dtype,
                ),
                kernel_factor=factor,
                notes=(why,) if why else (),
            )
            for method in _spec_options(model, hardware, req):
                if method is None:
                    candidates.append(base)
                    continue
                point, curve, acc, assumed = _spec_for(
                    hardware, model, variant, quant, kv_dtype, method, req, context, drafter, draft_model
                )
                extra = (f"assumed acceptance {acc} (pass --acceptance)",) if assumed else ()
                candidates.append(
                    replace(
                        base,
                        spec_method=method,
                        spec_k=point.k,
                        acceptance=acc,
                        acceptance_assumed=assumed,
                        spec=point,
                        spec_curve=curve,
                        notes=base.notes + extra,
                    )
                )
    if not candidates:
        raise UsageError(f"no candidate configs for {model.id} on {hardware.id}")
    notes += _prefill_dtype_note(hardware, model, {c.quant for c in candidates})
    ranked = sorted(candidates, key=lambda c: (not c.fit.fits, -c.score(req.goal)))
    chosen = ranked[0]
    if not chosen.fit.fits:
        notes.append(
            f"nothing fits: {chosen.fit.needed_gb:.1f} GB needed, {chosen.fit.budget_gb:.1f} GB available"
        )
    return Plan(
        hardware=hardware,
        model=model,
        request=req,
        context_tokens=context,
        memory_utilization=util,
        chosen=chosen,
        candidates=tuple(ranked),
        batch_curve=_batch_curve(hardware, model, chosen, context),
        prefill_estimate_s=tuple(
            (n, prefill_estimate_s(hardware, model, n, get_quant(chosen.quant)))
            for n in PREFILL_PROMPTS
            if n <= context
        ),
        drafter=drafter,
        draft_model=draft_model,
        notes=tuple(notes),
    )


def _prefill_dtype_note(hardware: Hardware, model: Model, quants: set[str]) -> list[str]:
    """Decode ranks the candidates; a CPU whose float32 matmuls prefill much faster than its bf16 ones
    (bf16 emulated) should hear that too: for long prompts the ranking's order can flip."""
    if not {"bf16", UPCAST_QUANT} <= quants:
        return []
    n = PREFILL_PROMPTS[0]
    bf16 = prefill_estimate_s(hardware, model, n, get_quant("bf16"))
    fp32 = prefill_estimate_s(hardware, model, n, get_quant(UPCAST_QUANT))
    if fp32 * 1.5 > bf16:
        return []
    return [
        f"prefill of {n} tokens, from this CPU's measured matmul rates: {bf16:.1f} s in bf16, "
        f"{fp32:.1f} s in float32 ({bf16 / fp32:.1f}x faster): for long prompts `--dtype float32` "
        "serves the first token sooner"
    ]


def _batch_curve(hardware: Hardware, model: Model, c: Candidate, context: int) -> tuple[BatchPoint, ...]:
    variant = model.variant(c.quant)
    assert variant is not None
    quant = get_quant(c.quant)
    top = max(1, c.fit.max_sequences)
    return tuple(
        batch_point(
            hardware, model, variant, quant, concurrency=n, context_tokens=context, kv_dtype=c.kv_dtype
        )
        for n in BATCH_STEPS
        if n <= top
    )
