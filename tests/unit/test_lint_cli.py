"""`dyno lint`: pasted vllm/docker commands and recipe files, text and JSON, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures"


def dyno(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )


def lint_ids(*args: str) -> tuple[int, set[str]]:
    r = dyno("lint", "--no-engine-check", "--format", "json", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, {f["id"] for f in json.loads(r.stdout)["lint"]}


def test_pasted_vllm_serve_with_a_base_target_and_drafter_fails() -> None:
    base = str(FIXTURES / "models" / "gemma3-270m-base")
    spec = '{"method":"mtp","model":"google/gemma-4-26B-A4B-it-assistant","num_speculative_tokens":4}'
    rc, ids = lint_ids("--model-dir", base, "--", "vllm", "serve", base, "--speculative-config", spec)
    assert rc == 1 and "drafter-base-target" in ids and "exposed-without-api-key" in ids


def test_pasted_docker_run_is_read_and_its_tag_is_a_finding() -> None:
    rc, ids = lint_ids(
        "--hardware", "gb10", "--",
        "docker", "run", "--runtime", "nvidia", "-p", "8000:8000", "vllm/vllm-openai:gemma4",
        "--model", "nvidia/Gemma-4-26B-A4B-NVFP4",
    )  # fmt: skip
    assert rc == 1
    assert {"docker-runtime-nvidia", "image-tag-known-bad", "image-tag-floating", "nvfp4-sm12x-without-marlin",
            "unified-memory-utilization", "docker-shared-memory"} <= ids  # fmt: skip


def test_recipe_files() -> None:
    rc, ids = lint_ids("--hardware", "gb10", str(FIXTURES / "recipes" / "gemma4-26b-spark.toml"))
    assert rc == 0 and "image-tag-floating" not in ids
    rc, ids = lint_ids(str(FIXTURES / "recipes" / "gemma4-nvfp4-trapped.toml"), "--hardware", "gb10")
    assert rc == 1 and {"nvfp4-sm12x-without-marlin", "exposed-without-api-key", "tool-flags-missing"} <= ids


def test_text_output_and_clean_exit() -> None:
    smol = str(FIXTURES / "models" / "smollm2-135m-instruct")
    r = dyno(
        "lint", "--no-engine-check", "--model-dir", smol, "--", "vllm", "serve", smol, "--host", "127.0.0.1"
    )
    assert r.returncode == 0, r.stdout + r.stderr
    r = dyno("lint", "--no-engine-check", "--", "vllm", "serve", smol)
    assert r.returncode == 1 and "exposed-without-api-key" in r.stdout and "fix:" in r.stdout


def test_unreadable_input_is_a_usage_error() -> None:
    r = dyno("lint", "--no-engine-check", "--", "ls", "-la")
    assert r.returncode == 2 and "not a command dyno can read" in r.stderr
    r = dyno("lint", "--no-engine-check")
    assert r.returncode == 2 and "recipe file" in r.stderr
