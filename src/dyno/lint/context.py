"""Gather what the rules look at: the model folder's files, the catalog entries, the weight format."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dyno.catalog import find_drafter, find_model, get_quant
from dyno.catalog.types import Hardware, Model, QuantFormat
from dyno.errors import UsageError
from dyno.lint.types import LintContext, ModelFolder, SpecConfig
from dyno.recipe.model import Recipe
from dyno.recipe.parse import DockerFacts

# vLLM --quantization values -> catalog quant ids. `modelopt` is left out on
# purpose: it names the toolkit, and its checkpoints are FP8 or NVFP4 (the
# folder's quant_algo, the catalog or the checkpoint name then decides).
_VLLM_QUANT = {
    "fp8": "fp8",
    "modelopt_fp4": "nvfp4",
    "nvfp4": "nvfp4",
    "mxfp4": "mxfp4",
    "gpt_oss_mxfp4": "mxfp4",
    "awq": "awq-int4",
    "awq_marlin": "awq-int4",
    "auto_awq": "awq-int4",
    "gptq": "gptq-int4",
    "gptq_marlin": "gptq-int4",
    "auto_gptq": "gptq-int4",
    "gguf": "q4_k_m",
}


_GGUF_CATALOG = ("q4_k_m", "q4_1", "bf16")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"cannot read {path}: {e}") from e
    return data if isinstance(data, dict) else {}


def read_model_folder(path: Path) -> ModelFolder:
    """config.json, tokenizer_config.json and chat_template.jinja of a local model folder."""
    if not (path / "config.json").is_file():
        raise UsageError(f"{path} is not a model folder (no config.json)")
    config = _read_json(path / "config.json")
    tok_path = path / "tokenizer_config.json"
    tok = _read_json(tok_path) if tok_path.is_file() else {}
    template: str | None = None
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    elif isinstance(tok.get("chat_template"), str | list) and tok["chat_template"]:
        ct = tok["chat_template"]
        template = ct if isinstance(ct, str) else json.dumps(ct)
    return ModelFolder(path=path, config=config, tokenizer_config=tok, chat_template=template)


def _quant_from_folder(folder: ModelFolder) -> str | None:
    q = folder.quantization
    method = str(q.get("quant_method", "")).lower()
    algo = str(q.get("quant_algo", "") or q.get("format", "")).lower()
    if "fp4" in algo or method in ("modelopt_fp4",):
        return "mxfp4" if "mx" in algo else "nvfp4"
    if method in ("fp8",) or "fp8" in algo:
        return "fp8"
    if method == "mxfp4":
        return "mxfp4"
    bits = q.get("bits", q.get("w_bit", 4))  # GPTQ says `bits`, AutoAWQ `w_bit`
    if method in ("awq", "awq_marlin", "auto_awq") and bits == 4:
        return "awq-int4"
    if method in ("gptq", "gptq_marlin", "auto_gptq") and bits == 4:
        return "gptq-int4"
    return None


def _quant_from_name(name: str) -> str | None:
    n = name.lower()
    for needle, qid in (
        ("nvfp4", "nvfp4"),
        ("mxfp4", "mxfp4"),
        ("fp8", "fp8"),
        ("awq", "awq-int4"),
        ("gptq", "gptq-int4"),
    ):
        if needle in n:
            return qid
    if n.endswith(".gguf") or "gguf" in n:
        # GGUF files name their type (`...Q4_1.gguf`); only the catalog's types are returned
        m = re.search(r"(?<![a-z0-9])(q\d_k_[sml]|q\d_\d|q\d_k|iq\d_\w+?|bf16|f16)(?![a-z0-9])", n)
        if m:
            return m.group(1) if m.group(1) in _GGUF_CATALOG else None
        return "q4_k_m" if not n.endswith(".gguf") else None
    return None


def detect_quant(recipe: Recipe, folder: ModelFolder | None, model: Model | None) -> tuple[str | None, str]:
    """The weight format and the evidence for it (flag, folder config, catalog, or the name)."""
    qflag = recipe.flag("--quantization")
    if isinstance(qflag, str) and qflag.lower() in _VLLM_QUANT:
        return _VLLM_QUANT[qflag.lower()], f"--quantization {qflag}"
    if folder is not None:
        q = _quant_from_folder(folder)
        if q:
            return q, "quantization_config in config.json"
        if not folder.quantization:
            return "bf16", "config.json has no quantization_config"
    found = find_model(recipe.model)
    if found is not None and found[1] is not None:
        return found[1].quant, f"catalog checkpoint {recipe.model}"
    q = _quant_from_name(recipe.model)
    if q:
        return q, f"the checkpoint name {recipe.model}"
    if model is not None:
        return "bf16", "a catalog model without a quantized checkpoint name"
    return None, "unknown"


def parse_spec(recipe: Recipe) -> tuple[SpecConfig | None, str | None]:
    raw = recipe.flag("--speculative-config")
    if raw is None:
        return None, None
    if not isinstance(raw, str):
        return None, "--speculative-config has no value"
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        return None, f"--speculative-config is not JSON: {e}"
    if not isinstance(data, dict):
        return None, "--speculative-config must be a JSON object"
    k = data.get("num_speculative_tokens")
    return (
        SpecConfig(
            method=str(data["method"]) if data.get("method") else None,
            model=str(data["model"]) if data.get("model") else None,
            num_speculative_tokens=k if isinstance(k, int) else None,
            raw=raw,
        ),
        None,
    )


def build_context(
    recipe: Recipe,
    *,
    hardware: Hardware | None = None,
    folder: ModelFolder | None = None,
    engine_version: str | None = None,
    docker: DockerFacts | None = None,
    other_runtimes: tuple[str, ...] = (),
    moe_config_dir: Path | None = None,
    engine_errors: tuple[str, ...] = (),
) -> LintContext:
    model: Model | None = None
    for ref in (recipe.model, recipe.served_name or ""):
        found = find_model(ref) if ref else None
        if found is not None:
            model = found[0]
            break
    quant_id, evidence = detect_quant(recipe, folder, model)
    quant: QuantFormat | None = get_quant(quant_id) if quant_id else None
    spec, spec_error = parse_spec(recipe)
    drafter = drafter_model = None
    if spec is not None and spec.model:
        drafter = find_drafter(spec.model)
        if drafter is None:
            hit = find_model(spec.model)
            drafter_model = hit[0] if hit else None
    return LintContext(
        recipe=recipe,
        hardware=hardware,
        folder=folder,
        engine_version=engine_version,
        docker=docker,
        model=model,
        quant=quant,
        quant_evidence=evidence,
        drafter=drafter,
        drafter_model=drafter_model,
        spec=spec,
        spec_error=spec_error,
        other_runtimes=other_runtimes,
        moe_config_dir=moe_config_dir,
        engine_errors=engine_errors,
    )
