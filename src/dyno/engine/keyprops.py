"""A target's key properties: what must match for two results to be compared (llama-bench's idea).

Read back from what the engine was started with (the recipe dyno recorded,
its flags read by `Recipe.flag`, the one flag reader the recipe layer and the
lint rules share), the model folder it loaded, and this machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dyno import provenance
from dyno.client import ServedModel
from dyno.engine.models import LOCAL_MODELS
from dyno.engine.models.local import read_marker
from dyno.recipe import Recipe

_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32"}


def key_properties(
    model: str | None,
    served: ServedModel | None,
    engine: str | None,
    engine_version: str | None,
    recipe: dict[str, Any] | None,
) -> dict[str, Any]:
    """The comparable identity of a run's target (the runner adds its workload).

    `recipe`: the launch recipe dyno recorded (Recipe.to_dict, secrets hidden), when dyno
    started the engine; None for a URL dyno only measures.
    """
    launched = _recipe(recipe)
    root = served.root if served else None
    folder = _local_folder(root) or _local_folder(launched.model if launched else None)
    return {
        "model": model,
        "model_revision": model_revision(folder, launched),
        "quant": (served.quant if served else None) or quant(folder, launched),
        "engine": engine,
        "engine_version": engine_version,
        "flags": list(recipe.get("flags", [])) if recipe else None,
        "hardware": hardware_key(),
    }


def _recipe(d: dict[str, Any] | None) -> Recipe | None:
    if d is None:
        return None
    return Recipe(
        model=str(d.get("model") or ""),
        served_name=str(d["served_name"]) if d.get("served_name") else None,
        engine=str(d.get("engine") or "vllm"),
        flags=tuple(str(f) for f in d.get("flags") or ()),
    )


def _local_folder(ref: str | None) -> Path | None:
    if not ref:
        return None
    p = Path(ref)
    return p if p.is_dir() else None


def _value(recipe: Recipe | None, name: str) -> str | None:
    value = recipe.flag(name) if recipe else None
    return value if isinstance(value, str) else None


def model_revision(folder: Path | None, recipe: Recipe | None) -> str | None:
    """The embedded model's package and GGUF checksum, else vLLM's `--revision`; None when unknown."""
    if folder is not None:
        marker = read_marker(folder)
        if marker is not None:
            return f"{marker.source_package}=={marker.source_package_version} gguf:{marker.gguf_sha256[:12]}"
    local = LOCAL_MODELS.get(str(recipe.served_name)) if recipe else None
    if local is not None and recipe is not None and recipe.model.endswith(".gguf"):
        # an embedded model served from its own GGUF, whose sha256 was checked before the start
        return f"{local.package}=={local.package_version} gguf:{local.gguf_sha256[:12]}"
    return _value(recipe, "--revision")


def quant(folder: Path | None, recipe: Recipe | None) -> str | None:
    """The weight format: `--quantization`, else the folder's quantization_config, else the dtype."""
    if q := _value(recipe, "--quantization"):
        return q
    config: dict[str, Any] = {}
    if folder is not None:
        try:
            config = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError):
            config = {}
    qc = config.get("quantization_config")
    if isinstance(qc, dict) and qc.get("quant_method"):
        return str(qc["quant_method"])
    dtype = _value(recipe, "--dtype")
    if dtype and dtype != "auto":
        return _DTYPES.get(dtype, dtype)
    torch_dtype = config.get("torch_dtype") or config.get("dtype")
    return _DTYPES.get(str(torch_dtype), str(torch_dtype)) if torch_dtype else None


def hardware_key() -> str:
    hw = provenance.hardware()
    gpus = hw.get("gpus") or []
    if gpus:
        return " + ".join(str(g.get("name", "?")) for g in gpus)
    return f"{hw.get('cpu_model', '?')} ({hw.get('usable_cores') or hw.get('logical_cores')} cores)"
