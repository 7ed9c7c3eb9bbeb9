"""What differs between the engines dyno launches, asked of one adapter; this machine's sockets; key properties."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from dyno.client import ServedModel
from dyno.engine import keyprops
from dyno.engine.adapters import ADAPTERS, adapter_for
from dyno.engine.launch import launch_profile
from dyno.engine.net import listening_addresses, port_holder
from dyno.engine.supervisor import api_key_for
from dyno.errors import EngineError, PortBusyError, UsageError
from dyno.recipe import ENGINES, Recipe
from dyno.settings import Settings


def test_every_engine_dyno_renders_has_an_adapter_and_another_is_refused_by_name() -> None:
    assert set(ADAPTERS) == set(ENGINES)
    assert (adapter_for("vllm").key_env, adapter_for("llama.cpp").key_env) == (
        "VLLM_API_KEY",
        "LLAMA_API_KEY",
    )
    with pytest.raises(EngineError, match=r"cannot launch engine 'ollama'; it launches: vllm, llama\.cpp"):
        adapter_for("ollama")


def test_the_key_dyno_probes_with_is_the_first_of_llamas_list_and_vllms_whole_key() -> None:
    llama = Recipe(model="/m/x.gguf", engine="llama.cpp", env=(("LLAMA_API_KEY", "k1,k2"),))
    assert api_key_for(llama) == "k1"
    assert api_key_for(Recipe(model="m", env=(("VLLM_API_KEY", "k1,k2"),))) == "k1,k2"
    assert api_key_for(Recipe(model="m", env=(("LLAMA_API_KEY", "k"),))) is None  # not vLLM's variable
    assert api_key_for(Recipe(model="/m/x.gguf", engine="llama.cpp", flags=("--api-key=a,b",))) == "a"


def test_only_vllm_gets_a_compile_cache_per_profile(tmp_path: Path) -> None:
    s = Settings(tmp_path)
    assert adapter_for("vllm").env_defaults(s, "p") == {"VLLM_CACHE_ROOT": str(s.cache_dir / "vllm" / "p")}
    assert adapter_for("llama.cpp").env_defaults(s, "p") == {}


def test_a_llama_server_death_its_own_rules_miss_falls_back_to_the_general_diagnosis() -> None:
    tail = ["main: loading model", "RuntimeError: something broke"]
    assert adapter_for("llama.cpp").diagnose(tail) == "RuntimeError: something broke"
    assert adapter_for("llama.cpp").diagnose(["error: invalid argument: --bogus"]) == "unknown flag: --bogus"


def test_one_scan_names_who_listens_on_a_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert listening_addresses(port) == ["127.0.0.1"]
        assert f"by pid {os.getpid()} " in port_holder(port)
    assert listening_addresses(port) == [] and port_holder(port) == ""


def test_a_llama_profile_keyed_in_its_own_variable_may_bind_beyond_loopback(dyno_home: Path) -> None:
    d = dyno_home / "profiles"
    d.mkdir(parents=True)
    (d / "open.toml").write_text('engine = "llama.cpp"\nmodel = "/m/x.gguf"\n')
    (d / "keyed.toml").write_text('engine = "llama.cpp"\nmodel = "/m/x.gguf"\n[env]\nLLAMA_API_KEY = "k"\n')
    s = Settings.from_env()
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match="has no API key"):
            launch_profile(s, "open", host="0.0.0.0", port=port)
        # past the key rule: the busy port is what stops it, before anything is prepared
        with pytest.raises(PortBusyError):
            launch_profile(s, "keyed", host="0.0.0.0", port=port)


def test_key_properties_read_revision_and_quant_from_the_launch_flags(tmp_path: Path) -> None:
    def props(*flags: str, folder: Path | None = None) -> dict[str, object]:
        recipe = {"engine": "vllm", "model": str(folder or "org/m"), "flags": list(flags)}
        return keyprops.key_properties("m", None, "vllm", "0.32.0", recipe)

    got = props("--revision", "abc123", "--quantization=fp8")
    assert (got["model_revision"], got["quant"], got["flags"]) == (
        "abc123",
        "fp8",
        ["--revision", "abc123", "--quantization=fp8"],
    )
    assert props("--revision=r2", "--dtype", "bfloat16")["model_revision"] == "r2"
    assert props("--dtype", "bfloat16")["quant"] == "bf16"
    (tmp_path / "config.json").write_text(
        '{"torch_dtype": "float16", "quantization_config": {"quant_method": "awq"}}'
    )
    assert props(folder=tmp_path)["quant"] == "awq"
    assert props("--dtype", "auto", folder=tmp_path)["quant"] == "awq"
    # what the server says it loaded wins; a URL dyno did not start has no flags to read
    served = ServedModel("m", 2048, None, "q4_1")
    url_only = keyprops.key_properties("m", served, "llama.cpp", "b11434", None)
    assert (url_only["quant"], url_only["model_revision"], url_only["flags"]) == ("q4_1", None, None)
