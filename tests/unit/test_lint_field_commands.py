"""Launch commands from the field, as people paste them: the working ones draw no error, the broken ones theirs.

Working commands may bind every interface without a key: that exposure is a
real error (`exposed-without-api-key`) and stays one, so the table says which
commands are exposed and the test expects exactly that error for them.
vLLM's own argument parser is not consulted (no engine_errors): these are
dyno's rules alone.
"""

from __future__ import annotations

import pytest

from dyno.catalog import get_hardware
from dyno.lint import Finding, build_context, lint
from dyno.recipe import parse_command

EXPOSED = "exposed-without-api-key"

MTP_26B = """'{"method":"mtp","model":"google/gemma-4-26B-A4B-it-assistant","num_speculative_tokens":4}'"""
MTP_31B = """'{"method":"mtp","model":"google/gemma-4-31B-it-assistant","num_speculative_tokens":3}'"""
TEXT_ONLY = """--limit-mm-per-prompt '{"image":0,"audio":0,"video":0}'"""
DENSE_MARLIN_ENV = "VLLM_NVFP4_GEMM_BACKEND=marlin VLLM_USE_FLASHINFER_MOE_FP4=0"
NVFP4_MOE = (
    "vllm serve nvidia/Gemma-4-26B-A4B-NVFP4 --quantization modelopt --moe-backend marlin "
    "--kv-cache-dtype fp8 --gpu-memory-utilization 0.85 --max-model-len 65536 --max-num-seqs 4"
)
NVFP4_DENSE = (
    "vllm serve nvidia/Gemma-4-31B-IT-NVFP4 --quantization modelopt --kv-cache-dtype fp8 "
    "--max-model-len 32768 --gpu-memory-utilization 0.85"
)
FP8_MOE = (
    "vllm serve RedHatAI/gemma-4-26B-A4B-it-FP8-Dynamic --max-model-len 32768 --gpu-memory-utilization 0.85"
)
AWQ_31B = (
    "vllm serve cyankiwi/gemma-4-31B-it-AWQ-4bit --max-model-len 32768 --gpu-memory-utilization 0.85 "
    "--kv-cache-dtype fp8"
)
LOCAL = " --host 127.0.0.1"

# (name, pasted command, hardware, binds every interface without a key)
WORKING: list[tuple[str, str, str, bool]] = [
    # DOMAIN.md's NVFP4 MoE command: experts through Marlin, dense FP4 GEMMs on FlashInfer CUTLASS
    ("nvfp4-moe-marlin", f"{NVFP4_MOE} --host 0.0.0.0 --port 8888", "gb10", True),
    (
        "nvfp4-moe-marlin-eq",
        NVFP4_MOE.replace("--moe-backend marlin", "--moe-backend=marlin") + LOCAL,
        "gb10",
        False,
    ),
    ("nvfp4-moe-marlin-and-env", f"{DENSE_MARLIN_ENV} {NVFP4_MOE}{LOCAL}", "gb10", False),
    (
        # the bg-digitalservices model card's docker command (patched gemma4.py mounted over vLLM's)
        "nvfp4-moe-docker",
        "docker run -d --name vllm-gemma-4 --gpus all --ipc=host --network host "
        "-e VLLM_NVFP4_GEMM_BACKEND=marlin -v /models/Gemma-4-26B-A4B-it-NVFP4:/model "
        "-v ~/.cache/huggingface:/root/.cache/huggingface "
        "-v ./gemma4_patched.py:/usr/local/lib/python3.12/dist-packages/vllm/model_executor/models/gemma4.py "
        "vllm/vllm-openai:v0.19.0 vllm serve bg-digitalservices/Gemma-4-26B-A4B-it-NVFP4 "
        "--served-model-name gemma-4 --host 0.0.0.0 --port 8888 --quantization modelopt --dtype auto "
        "--kv-cache-dtype fp8 --gpu-memory-utilization 0.85 --max-model-len 65536 --max-num-seqs 4 "
        "--moe-backend marlin --trust-remote-code",
        "gb10",
        True,
    ),
    ("fp8-moe", f"{FP8_MOE} --kv-cache-dtype fp8{LOCAL}", "gb10", False),
    (
        "fp8-moe-tools",
        f"{FP8_MOE} --enable-auto-tool-choice --tool-call-parser gemma4 --reasoning-parser gemma4 --host 0.0.0.0",
        "gb10",
        True,
    ),
    (
        "mtp-it-target",
        f"vllm serve google/gemma-4-26B-A4B-it --speculative-config {MTP_26B} {TEXT_ONLY} "
        "--max-model-len 32768 --gpu-memory-utilization 0.85 --host 0.0.0.0",
        "gb10",
        True,
    ),
    (
        "mtp-fp8-target",
        f"{FP8_MOE} --speculative-config {MTP_26B} --language-model-only{LOCAL}",
        "gb10",
        False,
    ),
    ("nvfp4-dense-env", f"{DENSE_MARLIN_ENV} {NVFP4_DENSE} --reasoning-parser gemma4{LOCAL}", "gb10", False),
    (
        # the docker form, env passed with -e; :gemma4-cu130 only floats (a warning)
        "nvfp4-dense-docker",
        "docker run -d --name gemma4-31b --gpus all --ipc host --shm-size 64gb -p 8002:8000 "
        "-e VLLM_NVFP4_GEMM_BACKEND=marlin -e VLLM_USE_FLASHINFER_MOE_FP4=0 "
        "-v ~/models/gemma4-31b-nvfp4:/models/gemma4-31b vllm/vllm-openai:gemma4-cu130 "
        "--model nvidia/Gemma-4-31B-IT-NVFP4 --served-model-name gemma-4-31b --quantization modelopt "
        "--kv-cache-dtype fp8 --max-model-len 32768 --gpu-memory-utilization 0.85 --reasoning-parser gemma4 "
        "--enable-auto-tool-choice --tool-call-parser pythonic",
        "gb10",
        True,
    ),
    ("awq-31b", f"{AWQ_31B} --host 0.0.0.0 --port 8000", "gb10", True),
    ("awq-31b-mtp", f"{AWQ_31B} --speculative-config {MTP_31B} {TEXT_ONLY}{LOCAL}", "gb10", False),
    (
        # runtime FP8 of the BF16 31B (NVIDIA forum thread, TP=1)
        "fp8-online-31b",
        "VLLM_DISABLE_COMPILE_CACHE=1 vllm serve google/gemma-4-31B-it --quantization fp8 --kv-cache-dtype fp8 "
        "--max-model-len 65536 --gpu-memory-utilization 0.85 --host 0.0.0.0 --port 8000",
        "gb10",
        True,
    ),
    (
        "awq-qwen3-h100",
        "vllm serve QuixiAI/Qwen3-30B-A3B-AWQ --quantization awq_marlin --enable-auto-tool-choice "
        f"--tool-call-parser hermes --reasoning-parser qwen3{LOCAL}",
        "h100-sxm",
        False,
    ),
]

# (name, pasted command, hardware, the error it must draw); each one breaks one thing of a working command
BROKEN: list[tuple[str, str, str, str]] = [
    (
        "nvfp4-moe-no-marlin",
        NVFP4_MOE.replace(" --moe-backend marlin", "") + LOCAL,
        "gb10",
        "nvfp4-sm12x-without-marlin",
    ),
    (
        "nvfp4-moe-env-only",
        f"{DENSE_MARLIN_ENV} " + NVFP4_MOE.replace(" --moe-backend marlin", "") + LOCAL,
        "gb10",
        "nvfp4-sm12x-without-marlin",
    ),
    (
        "nvfp4-moe-cutlass",
        NVFP4_MOE.replace("--moe-backend marlin", "--moe-backend cutlass") + LOCAL,
        "gb10",
        "nvfp4-sm12x-without-marlin",
    ),
    ("nvfp4-dense-no-env", NVFP4_DENSE + LOCAL, "gb10", "nvfp4-sm12x-without-marlin"),
    (
        "nvfp4-dense-moe-flag-only",
        f"{NVFP4_DENSE} --moe-backend marlin{LOCAL}",
        "gb10",
        "nvfp4-sm12x-without-marlin",
    ),
    (
        "nvfp4-dense-half-env",
        f"VLLM_NVFP4_GEMM_BACKEND=marlin {NVFP4_DENSE}{LOCAL}",
        "gb10",
        "nvfp4-sm12x-without-marlin",
    ),
    (
        "nvfp4-known-bad-tag",
        "docker run --gpus all --ipc host -p 127.0.0.1:8000:8000 -v /c/vllm:/root/.cache/vllm "
        "-e VLLM_CACHE_ROOT=/root/.cache/vllm vllm/vllm-openai:gemma4 "
        + NVFP4_MOE.removeprefix("vllm serve "),
        "gb10",
        "image-tag-known-bad",
    ),
    (
        "mtp-base-target",
        f"vllm serve google/gemma-4-26B-A4B --speculative-config {MTP_26B} {TEXT_ONLY} "
        f"--max-model-len 32768 --gpu-memory-utilization 0.85{LOCAL}",
        "gb10",
        "drafter-base-target",
    ),
    (
        "mtp-wrong-drafter",
        f"{FP8_MOE} --speculative-config {MTP_31B} --language-model-only{LOCAL}",
        "gb10",
        "drafter-mismatch",
    ),
    (
        "mtp-no-drafter",
        f"""{FP8_MOE} --speculative-config '{{"method":"mtp","num_speculative_tokens":4}}' """
        f"--language-model-only{LOCAL}",
        "gb10",
        "drafter-mismatch",
    ),
    (
        "spec-config-not-json",
        f"{FP8_MOE} --speculative-config '{{method: mtp}}' --language-model-only{LOCAL}",
        "gb10",
        "spec-config-invalid",
    ),
    (
        "memory-utilization-0.95",
        FP8_MOE.replace("0.85", "0.95") + LOCAL,
        "gb10",
        "unified-memory-utilization",
    ),
    (
        "memory-utilization-default",
        FP8_MOE.replace(" --gpu-memory-utilization 0.85", "") + LOCAL,
        "gb10",
        "unified-memory-utilization",
    ),
    (
        "auto-tool-choice-no-parser",
        f"{FP8_MOE} --enable-auto-tool-choice --reasoning-parser gemma4{LOCAL}",
        "gb10",
        "tool-choice-needs-parser",
    ),
    (
        "context-past-maximum",
        FP8_MOE.replace("32768", "300000") + LOCAL,
        "gb10",
        "max-model-len-too-long",
    ),
    (
        "bf16-31b-on-a-5090",
        f"vllm serve google/gemma-4-31B-it --max-model-len 32768{LOCAL}",
        "rtx-5090",
        "context-does-not-fit",
    ),
    (
        "docker-without-gpus",
        "docker run --ipc host -p 127.0.0.1:8000:8000 -v /c/vllm:/root/.cache/vllm "
        "-e VLLM_CACHE_ROOT=/root/.cache/vllm vllm/vllm-openai:v0.19.0 "
        + FP8_MOE.removeprefix("vllm serve "),
        "gb10",
        "docker-no-gpus",
    ),
    ("exposed", f"{FP8_MOE} --host 0.0.0.0", "gb10", EXPOSED),
]


def errors(command: str, hardware: str) -> list[Finding]:
    parsed = parse_command(command)
    ctx = build_context(parsed.recipe, hardware=get_hardware(hardware), docker=parsed.docker)
    return [f for f in lint(ctx) if f.severity == "error"]


@pytest.mark.parametrize(
    ("command", "hardware", "exposed"), [c[1:] for c in WORKING], ids=[c[0] for c in WORKING]
)
def test_working_field_command_draws_no_error(command: str, hardware: str, exposed: bool) -> None:
    found = errors(command, hardware)
    assert {f.id for f in found} == ({EXPOSED} if exposed else set()), [f.message for f in found]


@pytest.mark.parametrize(
    ("command", "hardware", "rule_id"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_variant_draws_its_error(command: str, hardware: str, rule_id: str) -> None:
    found = {f.id for f in errors(command, hardware)}
    assert rule_id in found
    assert found <= {rule_id, EXPOSED}, f"a single break drew other errors too: {found}"


def test_the_tables_use_distinct_names() -> None:
    names = [c[0] for c in WORKING] + [c[0] for c in BROKEN]
    assert len(names) == len(set(names))


def test_nvfp4_fix_says_which_case_it_is() -> None:
    (moe,) = [f for f in errors(BROKEN[0][1], "gb10") if f.id == "nvfp4-sm12x-without-marlin"]
    assert "is MoE" in moe.message and "--moe-backend marlin" in moe.fix
    assert "VLLM_NVFP4_GEMM_BACKEND" not in moe.fix  # the env is the dense fix, not this one
    (dense,) = [f for f in errors(f"{NVFP4_DENSE} --moe-backend marlin{LOCAL}", "gb10")]
    assert "is dense" in dense.message and "has none" in dense.message
    assert "VLLM_NVFP4_GEMM_BACKEND=marlin" in dense.fix and "VLLM_USE_FLASHINFER_MOE_FP4=0" in dense.fix
