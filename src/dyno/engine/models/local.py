"""Fetch, convert, verify and list the local models under `DYNO_HOME/models/`.

A converted folder carries `dyno-model.json`, written last: a folder without it
is an interrupted conversion and is redone; a folder with it is trusted after a
cheap check, so a second fetch does no work.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from dyno import __version__
from dyno.engine.models.registry import LOCAL_MODELS, LocalModelSpec, get_spec
from dyno.errors import ModelError
from dyno.settings import Settings

MARKER = "dyno-model.json"


class ModelMarker(BaseModel):
    """What we know about a converted folder; written when the conversion succeeded."""

    id: str
    source_package: str
    source_package_version: str
    gguf_sha256: str
    converted_at: str
    conversion_s: float
    dyno_version: str
    architectures: list[str]
    model_type: str | None
    max_position_embeddings: int | None
    has_chat_template: bool
    starts_with_bos: bool
    size_bytes: int


@dataclass(frozen=True)
class LocalModel:
    id: str
    path: Path
    spec: LocalModelSpec
    marker: ModelMarker | None  # None: known but not fetched yet

    @property
    def fetched(self) -> bool:
        return self.marker is not None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def model_dir(settings: Settings, model_id: str) -> Path:
    return settings.models_dir / model_id


def read_marker(folder: Path) -> ModelMarker | None:
    try:
        return ModelMarker.model_validate_json((folder / MARKER).read_text())
    except (OSError, ValidationError):
        return None


def _verify_folder(folder: Path, spec: LocalModelSpec, marker: ModelMarker) -> list[str]:
    """Cheap checks of a converted folder; returns the problems found."""
    problems = []
    if marker.gguf_sha256 != spec.gguf_sha256:
        problems.append("converted from a different source file")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"):
        if not (folder / name).is_file():
            problems.append(f"{name} is missing")
    if spec.instruct and not marker.has_chat_template:
        problems.append("instruction-tuned model without a chat template")
    if not spec.instruct and (folder / "chat_template.jinja").exists():
        problems.append("base model carries a chat template")
    if spec.needs_bos_fix and not marker.starts_with_bos:
        problems.append("tokenizer does not add <bos>")
    return problems


def list_models(settings: Settings) -> list[LocalModel]:
    out = []
    for spec in LOCAL_MODELS.values():
        folder = model_dir(settings, spec.id)
        out.append(LocalModel(spec.id, folder, spec, read_marker(folder)))
    return out


def fetch(settings: Settings, model_id: str, *, force: bool = False, log: Path | None = None) -> LocalModel:
    """Make `model_id` ready to serve; a no-op when it already is."""
    spec = get_spec(model_id)
    settings.ensure()
    folder = model_dir(settings, spec.id)
    marker = read_marker(folder)
    if marker is not None and not force:
        problems = _verify_folder(folder, spec, marker)
        if not problems:
            return LocalModel(spec.id, folder, spec, marker)
    return _convert(settings, spec, folder, log)


def gguf_file(settings: Settings, model_id: str) -> Path:
    """The model's own GGUF file, checked against its pinned sha256: what llama-server serves as is.

    SmolLM2's lies inside its package; Gemma's is assembled from chunks once, into the models folder.
    """
    spec = get_spec(model_id)
    settings.ensure()
    kept = settings.models_dir / "gguf" / spec.id
    kept.mkdir(parents=True, exist_ok=True)
    gguf = spec.locate(kept)
    stamp = kept / f"{gguf.name}.sha256"
    size_mtime = f"{gguf.stat().st_size}:{gguf.stat().st_mtime_ns}"
    # Hashing 100 MB costs ~0.3 s per start; a stamp keyed on size and mtime skips it after the first.
    if not stamp.is_file() or stamp.read_text() != f"{spec.gguf_sha256} {size_mtime}":
        digest = sha256_file(gguf)
        if digest != spec.gguf_sha256:
            raise ModelError(
                f"{gguf} has sha256 {digest}, expected {spec.gguf_sha256}; "
                f"reinstall the package: {spec.install_hint}"
            )
        stamp.write_text(f"{spec.gguf_sha256} {size_mtime}")
    return gguf


def _convert(settings: Settings, spec: LocalModelSpec, folder: Path, log: Path | None) -> LocalModel:
    t0 = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f".{spec.id}-", dir=settings.models_dir))
    try:
        gguf = spec.locate(scratch)
        digest = sha256_file(gguf)
        if digest != spec.gguf_sha256:
            raise ModelError(
                f"{gguf} has sha256 {digest}, expected {spec.gguf_sha256}; "
                f"reinstall the package: {spec.install_hint}"
            )
        out = scratch / "hf"
        argv = [
            sys.executable,
            "-m",
            "dyno.engine.models.convert",
            "--gguf",
            str(gguf),
            "--out",
            str(out),
        ]
        if spec.needs_bos_fix:
            argv.append("--bos-fix")
        if not spec.instruct:
            argv.append("--base")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
        log_path = log or settings.logs_dir / f"convert-{spec.id}.log"
        with log_path.open("w") as log_f:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=log_f, env=env, text=True)
        if proc.returncode != 0:
            tail = log_path.read_text().splitlines()[-15:]
            raise ModelError(
                f"converting {spec.id} failed (exit {proc.returncode}); last lines of {log_path}:\n"
                + "\n".join(tail)
            )
        facts = json.loads(proc.stdout.strip().splitlines()[-1])
        size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
        marker = ModelMarker(
            id=spec.id,
            source_package=spec.package,
            source_package_version=spec.package_version,
            gguf_sha256=digest,
            converted_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            conversion_s=round(time.monotonic() - t0, 1),
            dyno_version=__version__,
            size_bytes=size,
            **facts,
        )
        problems = _verify_folder(out, spec, marker)
        if problems:
            raise ModelError(f"converted {spec.id} failed verification: " + "; ".join(problems))
        (out / MARKER).write_text(marker.model_dump_json(indent=2))
        # Swap in whole: a reader never sees a half-written model folder.
        if folder.exists():
            shutil.rmtree(folder)
        out.rename(folder)
        return LocalModel(spec.id, folder, spec, marker)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
