"""`dyno plan`: its JSON (other tools read these keys), text, emitters and errors."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
import yaml

KEYS = {
    "hardware", "model", "quant", "weights_gb", "bytes_per_token", "kv_bytes_per_token", "fits",
    "max_context_tokens", "decode_ceiling_tok_s", "best_spec_k", "recipe", "lint",
}  # fmt: skip


def dyno(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )


def plan_json(*args: str) -> dict[str, object]:
    r = dyno("plan", *args, "--format", "json")
    assert r.returncode == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    return out


def test_json_has_the_documented_keys_and_a_lint_clean_recipe() -> None:
    out = plan_json("--hardware", "dgx-spark", "--model", "gemma-4-26b-a4b-it", "--spec-method", "mtp")
    assert set(out) >= KEYS and "decode_ceiling_spec_tok_s" in out
    assert out["hardware"] == "gb10" and out["quant"] == "fp8" and out["fits"] is True
    recipe = out["recipe"]
    assert isinstance(recipe, list) and recipe[:2] == ["vllm", "serve"]
    assert "--speculative-config" in recipe and "--tool-call-parser" in recipe
    lint = out["lint"]
    assert isinstance(lint, list) and all({"id", "severity", "message", "fix"} <= set(f) for f in lint)
    assert not [f for f in lint if f["severity"] == "error"]
    spec = out["decode_ceiling_spec_tok_s"]
    assert isinstance(spec, float) and isinstance(out["decode_ceiling_tok_s"], float)
    assert spec > out["decode_ceiling_tok_s"]


def test_no_spec_method_without_drafter_and_explicit_choices() -> None:
    out = plan_json(
        "--hardware", "h100-sxm", "--model", "qwen3-30b-a3b", "--quant", "awq-int4", "--kv-dtype", "auto",
        "--context", "8192", "--concurrency", "4", "--spec-method", "ngram", "--spec-k", "2",
        "--acceptance", "0.6,0.4",
    )  # fmt: skip
    assert out["quant"] == "awq-int4" and out["best_spec_k"] == 2 and out["acceptance"] == [0.6, 0.4]
    assert out["kv_dtype"] == "auto" and out["context_tokens"] == 8192
    assert out["recipe"][out["recipe"].index("--max-num-seqs") + 1] == "4"  # type: ignore[union-attr,index]


def test_cpu_plan_uses_the_measured_bandwidth() -> None:
    out = plan_json("--hardware", "cpu", "--model", "smollm2-135m-instruct")
    measured = out["measured"]
    assert isinstance(measured, dict) and "memory_bandwidth_gb_s" in measured
    bw = out["memory_bandwidth_gb_s"]
    assert isinstance(bw, float) and isinstance(out["bytes_per_token"], int)
    # The ceiling is the lower of the bandwidth bound and the matmul bound for the chosen dtype,
    # both from this machine's probe (which is lower depends on the CPU: bf16 emulated or not).
    from dyno.catalog import get_model
    from dyno.plan.weights import param_counts

    rates = out["matmul_gflop_s"]
    assert isinstance(rates, dict) and {"float32", "bfloat16"} <= set(rates)
    dtype = {"bf16": "bfloat16", "fp32": "float32"}[str(out["quant"])]
    compute = rates[dtype]["decode"] * 1e9 / (2 * param_counts(get_model("smollm2-135m-instruct")).active)
    expected = min(bw * 1e9 / out["bytes_per_token"], compute)
    assert out["decode_ceiling_tok_s"] == pytest.approx(expected, rel=2e-3)
    assert out["isa_flags"] is not None and isinstance(out["native_bf16"], bool)
    assert "--enforce-eager" in out["recipe"]  # type: ignore[operator]


def test_text_output_puts_a_ceiling_next_to_every_config() -> None:
    r = dyno("plan", "--hardware", "gb10", "--model", "gemma-4-31b-it")
    assert r.returncode == 0, r.stderr
    assert "ceiling tok/s" in r.stdout and "chosen:" in r.stdout and "vllm serve" in r.stdout
    assert "decode ceiling" in r.stdout and "prefill (estimate" in r.stdout


def test_emitters() -> None:
    base = ("plan", "--hardware", "gb10", "--model", "gemma-4-26b-a4b-it", "--format", "json", "--emit")
    docker = json.loads(dyno(*base, "docker").stdout)["rendered"]
    words = shlex.split(docker)
    assert words[:2] == ["docker", "run"] and "--gpus" in words and "127.0.0.1:8000:8000" in words
    compose = yaml.safe_load(json.loads(dyno(*base, "compose").stdout)["rendered"])
    assert compose["services"]["vllm"]["ipc"] == "host"
    ray = json.loads(dyno(*base, "ray").stdout)["rendered"]
    assert "ray start --head" in ray and "--tensor-parallel-size 2" in ray


def test_bad_input_is_a_clean_usage_error() -> None:
    r = dyno("plan", "--hardware", "tpu-v9", "--model", "gemma-4-31b-it")
    assert r.returncode == 2 and "unknown hardware" in r.stderr and "Traceback" not in r.stderr
    r = dyno("plan", "--hardware", "gb10", "--model", "qwen3-30b-a3b", "--spec-method", "mtp")
    assert r.returncode == 2 and "no MTP drafter" in r.stderr
    r = dyno("plan", "--hardware", "gb10", "--model", "qwen3-30b-a3b", "--acceptance", "high")
    assert r.returncode == 2 and "--acceptance" in r.stderr
