"""Rules about speculative decoding: the config itself, the drafter, and multimodal targets."""

from __future__ import annotations

import json

from dyno.catalog import catalog
from dyno.lint.types import Finding, LintContext, rule

# methods that run a second model (or head) trained against a particular target
MODEL_DRAFT_METHODS = ("mtp", "gemma4_mtp", "draft_model", "eagle", "eagle3")


@rule("spec-config-invalid", "vLLM refuses a --speculative-config that is not a JSON object")
def spec_config_invalid(ctx: LintContext) -> list[Finding]:
    if ctx.spec_error is None:
        return []
    return [
        Finding(
            "spec-config-invalid",
            "error",
            ctx.spec_error,
            'write it as one JSON object: \'{"method":"mtp","model":"DRAFTER","num_speculative_tokens":4}\'',
        )
    ]


def _drafted(ctx: LintContext) -> bool:
    return ctx.spec is not None and (ctx.spec.method or "") in MODEL_DRAFT_METHODS


@rule("drafter-base-target", "trap 2: a drafter trained on the -it model collapses on a base target")
def drafter_base_target(ctx: LintContext) -> list[Finding]:
    if not _drafted(ctx) or ctx.is_instruct is not False:
        return []
    sibling = ctx.model.instruct_variant if ctx.model and ctx.model.instruct_variant else None
    evidence = (
        "the model folder has no chat template"
        if ctx.folder is not None
        else "the catalog lists this checkpoint as a base model"
    )
    return [
        Finding(
            "drafter-base-target",
            "error",
            f"speculative decoding ({ctx.spec.method if ctx.spec else ''}) with a base target ({evidence}): "
            "drafters are trained against the instruction-tuned model, acceptance collapses, and decode "
            "ends up slower than with no speculation at all",
            f"serve the -it target{f' ({sibling})' if sibling else ''} or drop --speculative-config",
        )
    ]


@rule("drafter-mismatch", "a drafter from another model or tokenizer proposes tokens the target rejects")
def drafter_mismatch(ctx: LintContext) -> list[Finding]:
    if not _drafted(ctx) or ctx.spec is None:
        return []
    out: list[Finding] = []
    target = ctx.model
    if ctx.spec.method in ("mtp", "gemma4_mtp") and not ctx.spec.model and ctx.family == "gemma4":
        want = target.drafter if target and target.drafter else "the matching -assistant drafter"
        out.append(
            Finding(
                "drafter-mismatch",
                "error",
                "Gemma 4 has no built-in MTP layers: method mtp needs the separate -assistant drafter",
                f'add "model": "{_hub(want)}" to --speculative-config',
            )
        )
    # the base sibling of the drafter's own target is drafter-base-target's case, with its own fix
    if (
        ctx.drafter is not None
        and target is not None
        and ctx.drafter.target not in (target.id, target.instruct_variant)
    ):
        if ctx.drafter.tokenizer != target.tokenizer:
            what = f"a different tokenizer ({ctx.drafter.tokenizer} vs {target.tokenizer})"
        else:
            what = f"another target ({ctx.drafter.target})"
        out.append(
            Finding(
                "drafter-mismatch",
                "error",
                f"drafter {ctx.drafter.hub_id} was trained for {what}, not {target.id}",
                f"use {_hub(target.drafter) if target.drafter else 'a drafter trained for this model'}",
            )
        )
    draft = ctx.drafter_model
    if draft is not None and target is not None and draft.tokenizer != target.tokenizer:
        out.append(
            Finding(
                "drafter-mismatch",
                "error",
                f"draft model {draft.id} uses the {draft.tokenizer} tokenizer, the target {target.id} "
                f"uses {target.tokenizer}: every proposed token is rejected",
                "pick a draft model from the target's own family",
            )
        )
    folder = ctx.folder
    if ctx.drafter is not None and folder is not None and folder.family and folder.family != "gemma4":
        out.append(
            Finding(
                "drafter-mismatch",
                "error",
                f"drafter {ctx.drafter.hub_id} is a Gemma 4 MTP head, but the model folder is a "
                f"{folder.model_type or 'different'} model",
                "drop --speculative-config, or serve the Gemma 4 -it model the drafter was trained for",
            )
        )
    return out


def _hub(drafter_id: str) -> str:
    d = catalog().drafters.get(drafter_id)
    return d.hub_id if d else drafter_id


@rule("spec-multimodal-not-text-only", "some vLLM versions reject speculative decoding for multimodal models")
def spec_multimodal_not_text_only(ctx: LintContext) -> list[Finding]:
    if ctx.spec is None or ctx.is_multimodal is not True or ctx.has_flag("--language-model-only"):
        return []
    limits = ctx.flag("--limit-mm-per-prompt")
    if isinstance(limits, str) and _all_zero(limits):
        return []
    mods = ctx.model.modalities if ctx.model and ctx.model.modalities else ("image",)
    zero = "{" + ",".join(f'"{m}":0' for m in mods) + "}"
    return [
        Finding(
            "spec-multimodal-not-text-only",
            "warn",
            "speculative decoding on a multimodal model that is not limited to text: some vLLM versions "
            "refuse to start, others skip the drafter for image requests",
            f"serve text-only: --limit-mm-per-prompt '{zero}' (or --language-model-only)",
        )
    ]


def _all_zero(raw: str) -> bool:
    try:
        v = json.loads(raw)
    except json.JSONDecodeError:
        return False
    return isinstance(v, dict) and all(x == 0 for x in v.values())
