"""Secrets by name: the value goes, the name stays."""

from __future__ import annotations

from dyno.recipe import Recipe
from dyno.redact import REDACTED, redact_argv, redact_env, redact_recipe, redact_shell, secret_name


def test_names_that_hold_secrets() -> None:
    for name in (
        "--api-key",
        "HF_TOKEN",
        "VLLM_API_KEY",
        "OPENAI_APIKEY",
        "DB_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
    ):
        assert secret_name(name), name
    for name in ("--max-num-batched-tokens", "--tokenizer", "--kv-cache-dtype", "--model", "HF_HOME"):
        assert not secret_name(name), name


def test_argv_values_are_hidden_in_every_form() -> None:
    argv = [
        "vllm",
        "serve",
        "m",
        "--api-key",
        "s3cret",
        "--hf-token=tok",
        "-e",
        "HF_TOKEN=abc",
        "--port",
        "8000",
    ]
    out = redact_argv(argv)
    assert out == [
        "vllm", "serve", "m", "--api-key", REDACTED, f"--hf-token={REDACTED}", "-e", f"HF_TOKEN={REDACTED}",
        "--port", "8000",
    ]  # fmt: skip
    assert redact_argv(["--max-num-batched-tokens", "8192"]) == ["--max-num-batched-tokens", "8192"]


def test_env_and_recipe_and_shell() -> None:
    assert redact_env({"HF_TOKEN": "x", "HF_HOME": "/h"}) == {"HF_TOKEN": REDACTED, "HF_HOME": "/h"}
    d = redact_recipe({"flags": ["--api-key", "qq-9"], "env": {"VLLM_API_KEY": "qq-9"}, "model": "m"})
    assert "qq-9" not in str(d["flags"]) + str(d["env"]) and d["model"] == "m"
    r = Recipe(model="m", flags=("--api-key", "zz-top"), env=(("HF_TOKEN", "yy-top"),))
    line = redact_shell(r)
    assert "zz-top" not in line and "yy-top" not in line and "--api-key" in line and "HF_TOKEN=" in line
