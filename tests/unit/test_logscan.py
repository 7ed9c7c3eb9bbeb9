"""Log scanning on real vLLM 0.32 CPU logs captured on this kind of machine."""

from pathlib import Path

import pytest

from dyno.engine.logscan import diagnose, scan, split_line

LOGS = Path(__file__).parent.parent / "fixtures" / "logs"


def lines(name: str) -> list[str]:
    return (LOGS / name).read_text().splitlines()


def test_ready_log_facts() -> None:
    f = scan(lines("vllm-0.32-cpu-ready.log"))
    assert f.engine_version == "0.32.0"
    assert f.architecture == "LlamaForCausalLM"
    assert f.max_model_len == 2048
    assert f.dtype == "bfloat16"
    assert f.kv_cache_device == "CPU"
    assert f.kv_cache_tokens == 46592
    assert f.max_concurrency == pytest.approx(22.75)
    assert f.weights_load_s == pytest.approx(2.05)
    assert f.listen_address == "http://0.0.0.0:8011"
    assert f.speculative_config == "None"


def test_repeated_warnings_collapse_to_one_entry_with_a_count() -> None:
    f = scan(lines("vllm-0.32-cpu-ready.log"))
    weights = [(m, n) for m, n in f.warnings if m.startswith("Attempted to load weight")]
    assert len(weights) == 1 and weights[0][1] == 3
    assert any("libtcmalloc" in m for m, _ in f.warnings)


def test_gpu_lines_from_the_field() -> None:
    # No GPU here to capture from: these lines are rendered from the format
    # strings in vLLM 0.32's own source (gpu_model_runner.py:5150,
    # platforms/cuda.py:446, fused_moe/oracle/unquantized.py:529,
    # kv_cache_utils.py:2328) with made-up values; the default-MoE-config
    # line carries the file name DOMAIN.md quotes for GB10.
    gpu = [
        "(EngineCore_DP0 pid=211) INFO 04-10 09:12:01 [gpu_model_runner.py:2653] Model loading took 15.4230 GiB memory and 41.112 seconds",
        "(EngineCore_DP0 pid=211) INFO 04-10 09:12:03 [cuda.py:446] Using TRITON_ATTN backend.",
        "(EngineCore_DP0 pid=211) INFO 04-10 09:12:04 [unquantized.py:529] Using MarlinExperts MoE backend",
        "(EngineCore_DP0 pid=211) WARNING 04-10 09:12:05 [fused_moe.py:1090] Using default MoE config. Performance might be sub-optimal! Config file not found at /vllm/model_executor/layers/fused_moe/configs/E=128,N=704,device_name=NVIDIA_GB10,dtype=fp8_w8a8.json",
        "(EngineCore_DP0 pid=211) INFO 04-10 09:13:55 [kv_cache_utils.py:2328] GPU KV cache size: 1,210,432 tokens, Maximum concurrency for 131,072 tokens per request: 9.23x",
    ]
    f = scan(gpu)
    assert f.model_memory_gib == pytest.approx(15.423)
    assert f.attention_backend == "TRITON_ATTN"
    assert f.moe_backend == "MarlinExperts"
    assert f.moe_default_config is True
    assert f.moe_default_config_file is not None
    assert f.moe_default_config_file.endswith("E=128,N=704,device_name=NVIDIA_GB10,dtype=fp8_w8a8.json")
    assert f.kv_cache_device == "GPU" and f.kv_cache_tokens == 1_210_432
    assert f.max_concurrency == pytest.approx(9.23)


def test_older_model_loading_form_and_attention_backend_with_choices() -> None:
    f = scan(
        [
            "INFO 04-12 05:34:52 [model_runner.py:1146] Model loading took 21.5 GiB and 137.2 seconds",
            "(EngineCore pid=9) INFO 04-29 11:58:38 [cuda.py:368] Using FLASHINFER attention backend out of "
            "potential backends: ['FLASHINFER', 'TRITON_ATTN'].",
        ]
    )
    assert f.model_memory_gib == pytest.approx(21.5)
    assert f.attention_backend == "FLASHINFER"


def test_split_line() -> None:
    level, src, msg = split_line(
        "(APIServer pid=1) WARNING 11-22 15:59:55 [cpu.py:224] Triton is not installed."
    )
    assert (level, src, msg) == ("WARNING", "cpu.py:224", "Triton is not installed.")
    assert split_line("plain text") == (None, None, "plain text")


@pytest.mark.parametrize(
    ("log", "expect"),
    [
        ("vllm-0.32-unknown-flag.log", "unknown flag: --bogus-flag 3"),
        ("vllm-0.32-missing-model-path.log", "missing model: HFValidationError"),
        (
            "vllm-0.32-missing-model-offline.log",
            "missing model: LocalEntryNotFoundError: Cannot find",
        ),
        ("vllm-0.32-cpu-memory.log", "out of memory: Available memory on node 0"),
    ],
)
def test_diagnose_names_the_cause(log: str, expect: str) -> None:
    assert diagnose(lines(log)).startswith(expect)


def test_diagnose_import_error() -> None:
    tail = [
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "importlib.metadata.PackageNotFoundError: No package metadata was found for vllm",
    ]
    assert diagnose(tail).startswith("import error: ")


def test_diagnose_falls_back_to_last_exception_line() -> None:
    assert diagnose(["boom", "RuntimeError: something odd"]) == "RuntimeError: something odd"
