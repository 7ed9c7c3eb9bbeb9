"""Local model fetching: pinned checksums, the cached no-op, what a listing shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from dyno.engine.models import list_models
from dyno.engine.models import local as local_models
from dyno.engine.models.registry import LocalModelSpec
from dyno.errors import ModelError
from dyno.settings import Settings


def _fake_spec(gguf: Path, sha: str) -> LocalModelSpec:
    return LocalModelSpec(
        id="fake",
        description="",
        package="fake",
        package_version="0",
        install_hint="pip install fake",
        gguf_sha256=sha,
        instruct=True,
        needs_bos_fix=False,
        locate=lambda _scratch: gguf,
    )


def test_a_source_file_with_the_wrong_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"not the pinned model")
    spec = _fake_spec(gguf, "0" * 64)
    monkeypatch.setitem(local_models.LOCAL_MODELS, "fake", spec)
    monkeypatch.setattr(local_models, "get_spec", lambda _id: spec)
    with pytest.raises(ModelError, match="expected 0000"):
        local_models.fetch(Settings.from_env(), "fake")
    # Nothing half-made is left behind.
    assert not (Settings.from_env().models_dir / "fake").exists()
    assert [p for p in Settings.from_env().models_dir.iterdir()] == []


def test_listing_before_any_fetch_names_the_command() -> None:
    ms = list_models(Settings.from_env())
    assert {m.id for m in ms} == {"smollm2-135m-instruct", "gemma3-270m-base"}
    assert not any(m.fetched for m in ms)
