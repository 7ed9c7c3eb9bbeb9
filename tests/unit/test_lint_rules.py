"""Every lint rule: one fixture that triggers it and one that does not."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dyno.catalog import get_hardware
from dyno.lint import RULES, LintContext, build_context, detect_quant, lint, read_model_folder
from dyno.recipe import parse_command

MODELS = Path(__file__).parent.parent / "fixtures" / "models"
GEMMA3_BASE = MODELS / "gemma3-270m-base"
SMOLLM2 = MODELS / "smollm2-135m-instruct"

GEMMA_IT = "google/gemma-4-26B-A4B-it"
FP8 = "RedHatAI/gemma-4-26B-A4B-it-FP8-Dynamic"
TOOLS = "--enable-auto-tool-choice --tool-call-parser gemma4 --reasoning-parser gemma4"
TEXT_ONLY = """--limit-mm-per-prompt '{"image":0,"video":0}'"""
MTP_26B = """--speculative-config '{"method":"mtp","model":"google/gemma-4-26B-A4B-it-assistant","num_speculative_tokens":3}'"""
MTP_31B = """--speculative-config '{"method":"mtp","model":"google/gemma-4-31B-it-assistant","num_speculative_tokens":3}'"""
GOOD_DOCKER = (
    "docker run --gpus all --ipc host -p 127.0.0.1:8000:8000 -v /c/vllm:/root/.cache/vllm "
    "-e VLLM_CACHE_ROOT=/root/.cache/vllm vllm/vllm-openai:v0.32.0 "
)


def ctx(command: str, *, hw: str | None = None, folder: Path | None = None, **kw: object) -> LintContext:
    parsed = parse_command(command)
    return build_context(
        parsed.recipe,
        hardware=get_hardware(hw) if hw else None,
        folder=read_model_folder(folder) if folder else None,
        docker=parsed.docker,
        **kw,  # type: ignore[arg-type]
    )


def serve(args: str, **kw: object) -> LintContext:
    return ctx(f"vllm serve {args} --host 127.0.0.1", **kw)


# rule id -> (a context that triggers it, one that does not)
CASES: dict[str, tuple[Callable[[], LintContext], Callable[[], LintContext]]] = {
    "tool-choice-needs-parser": (
        lambda: serve(f"{GEMMA_IT} --enable-auto-tool-choice"),
        lambda: serve(f"{GEMMA_IT} {TOOLS}"),
    ),
    "tool-flags-missing": (
        lambda: serve(f"{GEMMA_IT} --reasoning-parser gemma4"),
        lambda: serve(f"{GEMMA_IT} {TOOLS}"),
    ),
    "tool-parser-mismatch": (
        lambda: serve(f"{GEMMA_IT} --enable-auto-tool-choice --tool-call-parser hermes"),
        lambda: serve(f"{GEMMA_IT} {TOOLS}"),
    ),
    "reasoning-parser-missing": (
        lambda: serve(f"{GEMMA_IT} --enable-auto-tool-choice --tool-call-parser gemma4"),
        lambda: serve(f"{GEMMA_IT} {TOOLS}"),
    ),
    "base-model-chat": (
        lambda: serve(str(GEMMA3_BASE), folder=GEMMA3_BASE),
        lambda: serve(str(SMOLLM2), folder=SMOLLM2),
    ),
    "exposed-without-api-key": (
        lambda: ctx(f"vllm serve {SMOLLM2}"),  # no --host: vLLM binds every interface
        lambda: ctx(f"VLLM_API_KEY=k vllm serve {SMOLLM2} --host 0.0.0.0"),
    ),
    "api-key-on-command-line": (
        lambda: serve(f"{SMOLLM2} --api-key s3cret"),
        lambda: ctx(f"VLLM_API_KEY=s3cret vllm serve {SMOLLM2}"),
    ),
    "spec-config-invalid": (
        lambda: serve(f"{SMOLLM2} --speculative-config '{{method: ngram}}'"),
        lambda: serve(
            f"""{SMOLLM2} --speculative-config '{{"method":"ngram","num_speculative_tokens":3}}'"""
        ),
    ),
    "drafter-base-target": (
        # the real Gemma 3 270M base folder: no chat template, so an MTP/draft config is refused
        lambda: serve(f"{GEMMA3_BASE} {MTP_26B}", folder=GEMMA3_BASE),
        lambda: serve(f"{GEMMA_IT} {MTP_26B} {TEXT_ONLY}"),
    ),
    "drafter-mismatch": (
        lambda: serve(f"{GEMMA_IT} {MTP_31B}"),
        lambda: serve(f"{GEMMA_IT} {MTP_26B}"),
    ),
    "spec-multimodal-not-text-only": (
        lambda: serve(f"{GEMMA_IT} {MTP_26B}"),
        lambda: serve(f"{GEMMA_IT} {MTP_26B} {TEXT_ONLY}"),
    ),
    "nvfp4-sm12x-without-marlin": (
        lambda: serve("nvidia/Gemma-4-26B-A4B-NVFP4 --gpu-memory-utilization 0.8", hw="gb10"),
        # the field's command: --moe-backend marlin alone fixes an MoE model
        lambda: serve("nvidia/Gemma-4-26B-A4B-NVFP4 --quantization modelopt --moe-backend marlin", hw="gb10"),
    ),
    "unified-memory-utilization": (
        lambda: serve(f"{FP8} --max-model-len 32768", hw="gb10"),  # vLLM's default 0.90
        lambda: serve(f"{FP8} --max-model-len 32768 --gpu-memory-utilization 0.5", hw="gb10"),
    ),
    "max-model-len-too-long": (
        lambda: serve(f"{SMOLLM2} --max-model-len 16384"),
        lambda: serve(f"{SMOLLM2} --max-model-len 8192"),
    ),
    "context-does-not-fit": (
        lambda: serve("google/gemma-4-31B-it --max-model-len 32768", hw="rtx-5090"),
        lambda: serve("nvidia/Gemma-4-31B-IT-NVFP4 --max-model-len 4096", hw="rtx-pro-6000"),
    ),
    "attention-backend-env-ignored": (
        lambda: ctx(f"VLLM_ATTENTION_BACKEND=FLASHINFER vllm serve {GEMMA_IT} --host 127.0.0.1"),
        lambda: ctx(f"VLLM_ATTENTION_BACKEND=FLASHINFER vllm serve {SMOLLM2} --host 127.0.0.1"),
    ),
    "moe-tuning-file": (
        lambda: serve(FP8, hw="h100-sxm"),
        lambda: serve("google/gemma-4-31B-it", hw="h100-sxm"),
    ),
    "verify-startup-log": (
        lambda: serve(GEMMA_IT, hw="h100-sxm"),
        lambda: serve("Qwen/Qwen3-30B-A3B-FP8", hw="h100-sxm"),
    ),
    "model-rotation": (
        lambda: serve("google/gemma-4-31B-it", hw="h100-sxm"),
        lambda: serve("google/gemma-4-E2B-it", hw="h100-sxm"),
    ),
    "docker-runtime-nvidia": (
        lambda: ctx(GOOD_DOCKER.replace("--gpus all", "--runtime nvidia") + GEMMA_IT),
        lambda: ctx(GOOD_DOCKER + GEMMA_IT),
    ),
    "docker-no-gpus": (
        lambda: ctx(GOOD_DOCKER.replace("--gpus all ", "") + GEMMA_IT),
        lambda: ctx(GOOD_DOCKER + GEMMA_IT),
    ),
    "docker-shared-memory": (
        lambda: ctx(GOOD_DOCKER.replace("--ipc host ", "") + GEMMA_IT),
        lambda: ctx(GOOD_DOCKER.replace("--ipc host", "--shm-size 16g") + GEMMA_IT),
    ),
    "image-tag-floating": (
        lambda: ctx(GOOD_DOCKER.replace(":v0.32.0", ":gemma4") + GEMMA_IT),
        lambda: ctx(GOOD_DOCKER + GEMMA_IT),
    ),
    "image-tag-known-bad": (
        lambda: ctx(GOOD_DOCKER.replace(":v0.32.0", ":gemma4") + "nvidia/Gemma-4-26B-A4B-NVFP4", hw="gb10"),
        lambda: ctx(
            GOOD_DOCKER.replace(":v0.32.0", ":gemma4-cu130") + "nvidia/Gemma-4-26B-A4B-NVFP4", hw="gb10"
        ),
    ),
    "engine-version": (
        lambda: serve("nvidia/Gemma-4-26B-A4B-NVFP4", hw="gb10", engine_version="0.33.0.dev12+g1a2b3c"),
        lambda: serve("nvidia/Gemma-4-26B-A4B-NVFP4", hw="gb10", engine_version="0.32.0"),
    ),
    "compile-cache-not-persisted": (
        lambda: ctx(GOOD_DOCKER.replace("-v /c/vllm:/root/.cache/vllm ", "") + GEMMA_IT),
        lambda: ctx(GOOD_DOCKER + GEMMA_IT),
    ),
    "other-gpu-runtime": (
        lambda: serve(GEMMA_IT, other_runtimes=("ollama",)),
        lambda: serve(GEMMA_IT, other_runtimes=()),
    ),
    "engine-rejects-args": (
        lambda: serve(f"{SMOLLM2} --no-such-flag", engine_errors=("unrecognized arguments: --no-such-flag",)),
        lambda: serve(SMOLLM2.as_posix()),
    ),
    # llama-server (flags as of b11434)
    "llama-removed-flag": (
        lambda: llama("--spec-draft-model d.gguf --draft-max 8"),
        lambda: llama("--spec-draft-model d.gguf --spec-draft-n-max 8"),
    ),
    "llama-spec-type-unknown": (
        lambda: llama("--spec-type ngram"),
        lambda: llama("--spec-type ngram-mod,ngram-simple"),
    ),
    "llama-single-slot": (lambda: llama("-np 1"), lambda: llama("--parallel 4")),
    "llama-slot-context": (lambda: llama("-c 8192 -np 4"), lambda: llama("-c 8192 -np 4 --kv-unified")),
    "llama-no-alias": (
        lambda: ctx("llama-server -m /m/x.Q4_1.gguf --metrics"),
        lambda: llama(""),
    ),
    "llama-no-metrics": (
        lambda: ctx("llama-server -m /m/x.Q4_1.gguf -a x"),
        lambda: llama(""),
    ),
    "llama-quantized-v-cache": (lambda: llama("-ctv q8_0 -fa off"), lambda: llama("-ctv q8_0 -fa auto")),
    "llama-exposed-without-api-key": (
        lambda: llama("--host 0.0.0.0"),
        lambda: ctx("LLAMA_API_KEY=k llama-server -m /m/x.Q4_1.gguf -a x --metrics --host 0.0.0.0"),
    ),
    "llama-api-key-on-command-line": (
        lambda: llama("--api-key s3cret"),
        lambda: ctx("LLAMA_API_KEY=s3cret llama-server -m /m/x.Q4_1.gguf -a x --metrics"),
    ),
    "cpu-bf16-emulated": (
        lambda: cpu_serve("smollm2-135m-instruct --enforce-eager", native=False),
        lambda: cpu_serve("smollm2-135m-instruct --enforce-eager --dtype float32", native=False),
    ),
}


def cpu_serve(args: str, *, native: bool) -> LintContext:
    """A CPU like the AVX2-only EPYC (native=False) or a Sapphire Rapids one, with made-up rates."""
    from dataclasses import replace

    from dyno.catalog.types import MatmulRate

    flags = ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if native else ("avx2",)
    hw = replace(
        get_hardware("h100-sxm"), id="cpu", compute_capability=None, isa_flags=flags, native_bf16=native,
        matmul=(MatmulRate("bfloat16", 4.6, 4.6), MatmulRate("float32", 10.5, 37.6)),
    )  # fmt: skip
    return build_context(parse_command(f"vllm serve {args} --host 127.0.0.1").recipe, hardware=hw)


def test_bf16_on_a_cpu_without_it_names_the_gap_and_the_measured_alternative() -> None:
    (f,) = [f for f in lint(cpu_serve("smollm2-135m-instruct", native=False)) if f.id == "cpu-bf16-emulated"]
    assert "no AVX512-BF16/AMX" in f.message and "4.6 GFLOP/s" in f.message and "37.6" in f.message
    assert "--dtype float32" in f.fix and "smollm2-llama" in f.fix
    assert not [
        f for f in lint(cpu_serve("smollm2-135m-instruct", native=True)) if f.id == "cpu-bf16-emulated"
    ]


def llama(args: str) -> LintContext:
    return ctx(f"llama-server -m /m/x.Q4_1.gguf -a x --metrics {args}")


def test_rules_read_only_their_own_engines_flags() -> None:
    # vLLM's rules do not judge llama-server's flags, nor the reverse: --api-key on a llama-server
    # line is the llama rule's finding only, and -np 1 on a vLLM line is nothing.
    found = ids(llama("--api-key s3cret --host 0.0.0.0"))
    assert "llama-api-key-on-command-line" in found and "api-key-on-command-line" not in found
    assert "exposed-without-api-key" not in found
    assert not {i for i in ids(serve(f"{SMOLLM2} -np 1")) if i.startswith("llama-")}


def ids(c: LintContext) -> set[str]:
    return {f.id for f in lint(c)}


def test_every_rule_has_a_triggering_and_a_clean_case() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_triggers(rule_id: str) -> None:
    trigger, _ = CASES[rule_id]
    found = [f for f in lint(trigger()) if f.id == rule_id]
    assert found, f"{rule_id} did not fire"
    for f in found:
        assert f.severity in ("error", "warn", "info") and f.message and f.fix


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_stays_quiet(rule_id: str) -> None:
    _, clean = CASES[rule_id]
    assert rule_id not in ids(clean())


def test_severities_of_the_traps() -> None:
    def sev(c: LintContext, rule_id: str) -> str:
        return next(f.severity for f in lint(c) if f.id == rule_id)

    assert sev(CASES["drafter-base-target"][0](), "drafter-base-target") == "error"
    assert sev(CASES["nvfp4-sm12x-without-marlin"][0](), "nvfp4-sm12x-without-marlin") == "error"
    assert sev(CASES["exposed-without-api-key"][0](), "exposed-without-api-key") == "error"
    assert sev(CASES["unified-memory-utilization"][0](), "unified-memory-utilization") == "error"
    # 0.80 is below the headless limit but above the desktop one: a note, not an error
    c = serve(f"{FP8} --max-model-len 32768 --gpu-memory-utilization 0.8", hw="gb10")
    assert sev(c, "unified-memory-utilization") == "info"
    # runtime nvidia next to --gpus all only warns
    c = ctx(GOOD_DOCKER.replace("--gpus all", "--gpus all --runtime nvidia") + GEMMA_IT)
    assert sev(c, "docker-runtime-nvidia") == "warn"


def test_too_many_sequences_warn_while_one_too_long_sequence_is_an_error() -> None:
    c = serve(f"{FP8} --max-model-len 262144 --max-num-seqs 64 --gpu-memory-utilization 0.85", hw="gb10")
    found = [f for f in lint(c) if f.id == "context-does-not-fit"]
    assert [f.severity for f in found] == ["warn"]


def test_moe_tuning_file_name_and_shipped_file(tmp_path: Path) -> None:
    c = serve(FP8, hw="gb10", moe_config_dir=tmp_path)
    f = next(f for f in lint(c) if f.id == "moe-tuning-file")
    assert f.severity == "warn" and "E=128,N=704,device_name=NVIDIA_GB10,dtype=fp8_w8a8.json" in f.message
    (tmp_path / "E=128,N=704,device_name=NVIDIA_GB10,dtype=fp8_w8a8.json").write_text("{}")
    assert "moe-tuning-file" not in ids(serve(FP8, hw="gb10", moe_config_dir=tmp_path))


def test_drafter_rules_read_the_real_base_folder() -> None:
    folder = read_model_folder(GEMMA3_BASE)
    assert not folder.has_chat_template and folder.family == "gemma3"
    c = serve(f"{GEMMA3_BASE} {MTP_26B}", folder=GEMMA3_BASE)
    assert {"drafter-base-target", "drafter-mismatch"} <= ids(c)  # base, and a Gemma 4 head on Gemma 3
    smol = read_model_folder(SMOLLM2)
    assert smol.has_chat_template and not smol.tool_capable


def test_the_plans_own_recipe_has_no_errors() -> None:
    from dyno.catalog import get_model
    from dyno.plan import make_plan
    from dyno.recipe.from_plan import recipe_for

    for hw, model in [("gb10", "gemma-4-26b-a4b-it"), ("rtx-5090", "gemma-4-26b-a4b-it"),
                      ("h100-sxm", "qwen3-30b-a3b"), ("gb10", "gemma-4-31b-it")]:  # fmt: skip
        h = get_hardware(hw)
        r = recipe_for(make_plan(h, get_model(model)))
        assert not [f for f in lint(build_context(r, hardware=h)) if f.severity != "info"], (hw, model)


NVFP4_MOE = "nvidia/Gemma-4-26B-A4B-NVFP4 --quantization modelopt"
NVFP4_DENSE = "nvidia/Gemma-4-31B-IT-NVFP4 --quantization modelopt"
DENSE_ENV = "VLLM_NVFP4_GEMM_BACKEND=marlin VLLM_USE_FLASHINFER_MOE_FP4=0"


def marlin_findings(c: LintContext) -> list[tuple[str, str]]:
    return [(f.severity, f.message) for f in lint(c) if f.id == "nvfp4-sm12x-without-marlin"]


@pytest.mark.parametrize(
    "command",
    [
        f"vllm serve {NVFP4_MOE} --moe-backend marlin",
        f"vllm serve {NVFP4_MOE} --moe-backend=marlin",
        f"vllm serve {NVFP4_MOE} --moe-backend Marlin",
        f"{DENSE_ENV} vllm serve {NVFP4_MOE} --moe-backend marlin",
        f"{DENSE_ENV} vllm serve {NVFP4_DENSE}",
        f"VLLM_NVFP4_GEMM_BACKEND=marlin VLLM_USE_FLASHINFER_MOE_FP4=false vllm serve {NVFP4_DENSE}",
        f"vllm serve {NVFP4_DENSE} --linear-backend marlin",  # the flag newer vLLM builds read
        # docker `-e NAME` passes the host's value through: dyno cannot see it, so it does not judge it
        "docker run --gpus all -e VLLM_NVFP4_GEMM_BACKEND -e VLLM_USE_FLASHINFER_MOE_FP4 "
        f"vllm/vllm-openai:v0.19.0 {NVFP4_DENSE}",
    ],
)
def test_nvfp4_marlin_fixes_that_work(command: str) -> None:
    assert marlin_findings(ctx(command, hw="gb10")) == []


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (f"vllm serve {NVFP4_MOE}", "is MoE"),
        (f"{DENSE_ENV} vllm serve {NVFP4_MOE}", "fix dense models, not experts"),
        (f"vllm serve {NVFP4_MOE} --moe-backend flashinfer_cutlass", "is MoE"),
        (f"vllm serve {NVFP4_DENSE}", "is dense"),
        (f"vllm serve {NVFP4_DENSE} --moe-backend marlin", "has none"),
        (f"VLLM_USE_FLASHINFER_MOE_FP4=0 vllm serve {NVFP4_DENSE}", "is dense"),
    ],
)
def test_nvfp4_without_the_fix_for_its_kind_is_an_error(command: str, says: str) -> None:
    found = marlin_findings(ctx(command, hw="gb10"))
    assert [sev for sev, _ in found] == ["error"] and says in found[0][1]


def test_nvfp4_rule_only_on_sm12x_and_only_for_nvfp4() -> None:
    assert marlin_findings(serve(NVFP4_MOE, hw="b200")) == []
    assert marlin_findings(serve(NVFP4_MOE, hw="rtx-5090")) != []  # sm_120 too
    # MXFP4: vLLM's own MXFP4 MoE selection prefers Marlin on sm_12x
    assert marlin_findings(serve("some-org/gpt-oss-20b --quantization mxfp4", hw="gb10")) == []


def _folder(path: Path, text_config: dict[str, object]) -> Path:
    config = {
        "model_type": "gemma4",
        "text_config": text_config,
        "quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4"},
    }
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_nvfp4_rule_reads_moe_from_the_model_folder(tmp_path: Path) -> None:
    moe = _folder(tmp_path / "moe", {"enable_moe_block": True, "num_experts": 128})
    dense = _folder(tmp_path / "dense", {"enable_moe_block": False, "num_experts": None})
    assert read_model_folder(moe).is_moe and not read_model_folder(dense).is_moe
    assert marlin_findings(serve(f"{moe} --moe-backend marlin", hw="gb10", folder=moe)) == []
    assert [s for s, _ in marlin_findings(serve(str(moe), hw="gb10", folder=moe))] == ["error"]
    found = marlin_findings(serve(f"{dense} --moe-backend marlin", hw="gb10", folder=dense))
    assert [s for s, _ in found] == ["error"] and "is dense" in found[0][1]
    assert marlin_findings(ctx(f"{DENSE_ENV} vllm serve {dense}", hw="gb10", folder=dense)) == []


def test_nvfp4_rule_on_a_model_it_does_not_know() -> None:
    unknown = "someone/Mystery-30B-NVFP4"
    found = marlin_findings(serve(unknown, hw="gb10"))
    assert [s for s, _ in found] == ["error"] and "does not know whether" in found[0][1]
    # one fix given: right for one kind, wrong for the other, and dyno cannot tell which
    assert [s for s, _ in marlin_findings(serve(f"{unknown} --moe-backend marlin", hw="gb10"))] == ["warn"]
    assert [s for s, _ in marlin_findings(ctx(f"{DENSE_ENV} vllm serve {unknown}", hw="gb10"))] == ["warn"]
    assert marlin_findings(ctx(f"{DENSE_ENV} vllm serve {unknown} --moe-backend marlin", hw="gb10")) == []


@pytest.mark.parametrize(
    ("flag", "quant"),
    [
        ("awq", "awq-int4"),
        ("awq_marlin", "awq-int4"),
        ("gptq", "gptq-int4"),
        ("gptq_marlin", "gptq-int4"),
        ("mxfp4", "mxfp4"),
        ("modelopt_fp4", "nvfp4"),
    ],
)
def test_detect_quant_from_the_quantization_flag(flag: str, quant: str) -> None:
    recipe = parse_command(f"vllm serve some-org/some-model --quantization {flag}").recipe
    assert detect_quant(recipe, None, None) == (quant, f"--quantization {flag}")


@pytest.mark.parametrize(
    ("quantization_config", "quant"),
    [
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True}, "awq-int4"),
        ({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False}, "gptq-int4"),
        ({"quant_method": "gptq", "bits": 8, "group_size": 128}, None),  # INT8: not an INT4 format
        ({"quant_method": "mxfp4"}, "mxfp4"),
        ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "nvfp4"),
        ({"quant_method": "modelopt", "quant_algo": "FP8"}, "fp8"),
    ],
)
def test_detect_quant_from_the_model_config(
    tmp_path: Path, quantization_config: dict[str, object], quant: str | None
) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": quantization_config}))
    recipe = parse_command(f"vllm serve {tmp_path}").recipe
    found, evidence = detect_quant(recipe, read_model_folder(tmp_path), None)
    assert found == quant
    if quant is not None:
        assert evidence == "quantization_config in config.json"


def test_modelopt_flag_leaves_the_format_to_the_checkpoint() -> None:
    # --quantization modelopt names the toolkit: its checkpoints are FP8 or NVFP4
    recipe = parse_command(f"vllm serve {NVFP4_MOE}").recipe
    assert detect_quant(recipe, None, None)[0] == "nvfp4"
    fp8 = parse_command("vllm serve RedHatAI/gemma-4-26B-A4B-it-FP8-Dynamic --quantization modelopt").recipe
    assert detect_quant(fp8, None, None)[0] == "fp8"


def test_a_drafter_on_the_base_sibling_is_one_error_not_two() -> None:
    c = serve(f"google/gemma-4-26B-A4B {MTP_26B} {TEXT_ONLY}")
    assert "drafter-base-target" in ids(c) and "drafter-mismatch" not in ids(c)
