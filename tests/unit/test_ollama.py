"""Ollama's native payloads read into dyno's types, and the Ollama checks' decisions, on recorded data.

The payloads are the examples in Ollama's docs (docs/api.md, docs/openapi.yaml at
ollama/ollama fb30760), verbatim where the test says so.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from dyno.client import Chunk, GenRequest, RequestRecord
from dyno.client.ollama import (
    LoadedModel,
    ModelCard,
    OllamaFacts,
    OllamaTiming,
    parse_ps,
    parse_show,
    same_model,
    timing_from_final,
)
from dyno.client.ollama_stream import OllamaNativeClient, native_body
from dyno.probe.ollama import judge_cold_load, judge_context, judge_server_timing, judge_split

# docs/openapi.yaml, /api/ps example (YAML turned into JSON, values unchanged).
PS_OPENAPI = {
    "models": [
        {
            "name": "gemma4",
            "model": "gemma4",
            "size": 6591830464,
            "digest": "c6eb396dbd5992bbe3f5cdb947e8bbc0ee413d7c17e2beaae69f5d569cf982eb",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "gemma4",
                "families": ["gemma4"],
                "parameter_size": "8.0B",
                "quantization_level": "Q4_K_M",
            },
            "expires_at": "2025-10-17T16:47:07.93355-07:00",
            "size_vram": 5333539264,
            "context_length": 4096,
        }
    ]
}
# docs/api.md, /api/ps example of a server before 0.9.7: no context_length.
PS_OLD = {
    "models": [
        {
            "name": "mistral:latest",
            "model": "mistral:latest",
            "size": 5137025024,
            "digest": "2ae6f6dd7a3dd734790bbbf58b8909a606e0e7e97e94b7604e0aa7ae4490e6d8",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "7.2B",
                "quantization_level": "Q4_0",
            },
            "expires_at": "2024-06-04T14:38:31.83753-07:00",
            "size_vram": 5137025024,
        }
    ]
}
# docs/api.md, /api/show example (its // comments and modelfile string dropped).
SHOW = {
    "parameters": 'num_keep                       24\nstop                           "<|start_header_id|>"\n'
    'stop                           "<|end_header_id|>"\nstop                           "<|eot_id|>"',
    "details": {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "8.0B",
        "quantization_level": "Q4_0",
    },
    "model_info": {
        "general.architecture": "llama",
        "general.file_type": 2,
        "general.parameter_count": 8030261248,
        "llama.attention.head_count": 32,
        "llama.block_count": 32,
        "llama.context_length": 8192,
        "llama.embedding_length": 4096,
        "tokenizer.ggml.tokens": [],
    },
    "capabilities": ["completion", "vision"],
}
# docs/api.md, the final object of a streamed /api/chat, verbatim.
FINAL = {
    "model": "llama3.2",
    "created_at": "2023-08-04T19:22:45.499127Z",
    "message": {"role": "assistant", "content": ""},
    "done": True,
    "total_duration": 4883583458,
    "load_duration": 1334875,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 342546000,
    "eval_count": 282,
    "eval_duration": 4535599000,
}


def test_ps_reads_sizes_placement_and_the_allocated_context() -> None:
    (m,) = parse_ps(PS_OPENAPI) or []
    assert (m.name, m.size_bytes, m.size_vram_bytes, m.context_length) == (
        "gemma4",
        6591830464,
        5333539264,
        4096,
    )
    assert (m.quantization, m.parameter_size) == ("Q4_K_M", "8.0B")
    assert m.cpu_bytes == 1258291200 and m.gpu_fraction == pytest.approx(0.8091, abs=1e-4)
    (old,) = parse_ps(PS_OLD) or []
    assert old.context_length is None and old.gpu_fraction == 1.0 and old.cpu_bytes == 0
    assert parse_ps({"models": []}) == []
    assert parse_ps("<html>") is None and parse_ps({"models": [{"name": "x"}]}) is None


def test_show_reads_the_trained_context_under_the_architecture_prefix() -> None:
    card = parse_show(SHOW)
    assert card is not None
    assert (card.architecture, card.trained_context, card.modelfile_num_ctx) == ("llama", 8192, None)
    assert (card.family, card.quantization, card.capabilities) == ("llama", "Q4_0", ("completion", "vision"))
    with_ctx = parse_show(SHOW | {"parameters": 'num_ctx                        32768\nstop "<|eot_id|>"'})
    assert with_ctx is not None and with_ctx.modelfile_num_ctx == 32768
    bare = parse_show({"model_info": {"general.architecture": "qwen3"}})
    assert bare is not None and bare.trained_context is None
    assert parse_show(None) is None


def test_final_chunk_nanoseconds_become_milliseconds_once() -> None:
    t = timing_from_final(FINAL)
    assert t is not None
    assert (t.eval_count, t.eval_duration_ms, t.load_duration_ms) == (282, 4535.599, 1.334875)
    assert (t.prompt_eval_count, t.prompt_eval_duration_ms, t.total_duration_ms) == (26, 342.546, 4883.583458)
    assert t.decode_tok_s == pytest.approx(62.175, abs=1e-3)  # 282 tokens / 4.5356 s
    assert t.prefill_tok_s == pytest.approx(75.903, abs=1e-3)
    assert t.server_ttft_ms == pytest.approx(343.880875)
    stored = t.as_server_timing()
    assert stored["source"] == "ollama" and stored["eval_duration_ms"] == 4535.599
    assert OllamaTiming.from_server_timing(json.loads(json.dumps(stored))) == t
    assert OllamaTiming.from_server_timing({"source": "llama.cpp", "prompt_ms": 3.0}) is None


def test_durations_ollama_leaves_out_for_being_zero_read_as_zero() -> None:
    warm = {k: v for k, v in FINAL.items() if k not in ("load_duration", "prompt_eval_duration")}
    t = timing_from_final(warm)
    assert t is not None and (t.load_duration_ms, t.prompt_eval_duration_ms, t.prefill_tok_s) == (
        0.0,
        0.0,
        None,
    )
    assert timing_from_final({"model": "m", "message": {"content": "Hi"}, "done": False}) is None
    load_only = timing_from_final({"model": "m", "done": True, "done_reason": "load"})
    assert load_only is not None and load_only.decode_tok_s is None


def test_model_names_match_with_or_without_the_latest_tag() -> None:
    assert same_model("llama3.2:latest", "llama3.2") and same_model("llama3.2", "llama3.2:latest")
    assert not same_model("llama3.2:1b", "llama3.2")


def test_native_body_puts_length_and_sampling_in_options() -> None:
    req = GenRequest("m", ({"role": "user", "content": "hi"},), max_tokens=12, temperature=0.0, seed=3)
    assert native_body(req) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "options": {"num_predict": 12, "temperature": 0.0, "seed": 3},
    }


def _native(lines: list[bytes], status: int = 200, ctype: str = "application/x-ndjson") -> RequestRecord:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": ctype}, content=b"".join(lines))

    async def go() -> RequestRecord:
        async with OllamaNativeClient("http://ollama", transport=httpx.MockTransport(answer)) as c:
            return await c.generate(GenRequest("m", ({"role": "user", "content": "hi"},), max_tokens=4))

    return asyncio.run(go())


def _line(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode() + b"\n"


def test_a_native_stream_becomes_a_record_and_its_breakages_are_named() -> None:
    words = [
        _line({"model": "m", "message": {"role": "assistant", "content": w}, "done": False}) for w in "ab"
    ]
    thinking = _line(
        {"model": "m", "message": {"role": "assistant", "content": "", "thinking": "hm"}, "done": False}
    )
    final = _line(FINAL | {"done_reason": "stop"})
    ok = _native([thinking, *words, final])
    assert ok.ok and (ok.output_text, ok.reasoning_text, ok.finish_reason) == ("ab", "hm", "stop")
    assert (ok.output_tokens, ok.prompt_tokens, len(ok.chunks)) == (282, 26, 4)
    assert ok.server_timing is not None and ok.server_timing["eval_duration_ms"] == 4535.599
    assert _native(words).error_kind == "truncated_stream"
    # After the headers Ollama reports a failure as one {"error": ...} line.
    broken = _native([words[0], _line({"error": "an error was encountered while running the model"})])
    assert broken.error_kind == "stream_error" and "running the model" in (broken.error_message or "")
    assert _native([words[0], b"{not json\n", final]).error_kind == "malformed_stream"
    missing = _native([b'{"error":"model \\"m\\" not found, try pulling it first"}'], 404, "application/json")
    assert (missing.error_kind, missing.http_status) == ("http_4xx", 404)


def _loaded(size_vram: int, size: int = 8 * 1024**3, ctx: int | None = 4096) -> LoadedModel:
    return LoadedModel("m:latest", size, size_vram, ctx, "2025-10-17T16:47:07-07:00", "Q4_K_M", "8B")


def _facts(m: LoadedModel | None, card: ModelCard | None = None, ps: bool = True) -> OllamaFacts:
    """`ps`: whether /api/ps answered at all."""
    if not ps:
        return OllamaFacts("0.12.0", None, None, card)
    return OllamaFacts("0.12.0", (m,) if m else (), m, card)


def _card(trained: int | None, num_ctx: int | None = None) -> ModelCard:
    return ModelCard("llama", trained, num_ctx, "llama", "Q4_K_M", "8B", ("completion",))


def test_split_fails_all_on_gpu_passes_and_cpu_only_depends_on_the_machine() -> None:
    split = judge_split(_facts(_loaded(6 * 1024**3)), gpu_here=True)
    assert split.status == "fail"
    assert "6.0 of 8.0 GiB on the GPU, 25% (2.0 GiB) on the CPU" in split.evidence
    assert split.facts["gpu_fraction"] == 0.75
    assert judge_split(_facts(_loaded(8 * 1024**3)), gpu_here=None).status == "pass"
    # Nothing in VRAM: fine on a box without a GPU, the worst split on one with, unknown elsewhere.
    cpu_box = judge_split(_facts(_loaded(0)), gpu_here=False)
    assert cpu_box.status == "pass" and "CPU-only" in cpu_box.evidence
    assert judge_split(_facts(_loaded(0)), gpu_here=True).status == "fail"
    assert judge_split(_facts(_loaded(0)), gpu_here=None).status == "warn"
    assert judge_split(_facts(None), gpu_here=True).status == "skipped"
    assert judge_split(_facts(_loaded(0), ps=False), gpu_here=True).status == "skipped"


def _record(
    *, gap_ms: float = 4.0, n: int = 64, timing: dict[str, Any] | None = None, error: str | None = None
) -> RequestRecord:
    """A native request: first token 50 ms after sending, then one every `gap_ms`; Ollama said 4 ms each."""
    ms = 1_000_000
    chunks = tuple(Chunk(int(50 * ms + i * gap_ms * ms), "content", None) for i in range(n))
    default = OllamaTiming(300.0, 40.0, 10, 10.0, n, n * 4.0).as_server_timing()
    return RequestRecord(
        params={},
        t_sent_ns=0,
        t_first_content_ns=chunks[0].t_ns,
        chunks=chunks,
        output_tokens=n,
        server_timing=default if timing is None else timing,
        error_kind="http_5xx" if error else None,
        error_message=error,
    )


def test_cold_load_warns_with_the_load_inside_the_first_ttft() -> None:
    cold = judge_cold_load(_facts(None), _record())
    assert cold.status == "warn" and "TTFT was 50 ms, load_duration 40 ms" in cold.evidence
    assert "keep_alive" in cold.fix and "OLLAMA_KEEP_ALIVE" in cold.fix
    assert cold.facts == {"loaded_before": False, "load_duration_ms": 40.0, "ttft_ms": 50.0}
    assert judge_cold_load(_facts(_loaded(1)), _record()).status == "pass"
    assert judge_cold_load(_facts(None, ps=False), _record()).status == "skipped"
    assert judge_cold_load(_facts(None), _record(error="boom")).status == "fail"


def test_context_warns_when_the_allocation_is_half_the_trained_context_or_less() -> None:
    default = judge_context(_facts(_loaded(1, ctx=4096), _card(131072)))
    assert default.status == "warn" and "Ollama's default" in default.evidence
    assert "cut without an error" in default.evidence
    modelfile = judge_context(_facts(_loaded(1, ctx=65536), _card(131072, num_ctx=65536)))
    assert modelfile.status == "warn" and "the Modelfile sets num_ctx 65536" in modelfile.evidence
    assert judge_context(_facts(_loaded(1, ctx=100_000), _card(131072))).status == "pass"
    assert judge_context(_facts(_loaded(1, ctx=4096), _card(None))).status == "pass"
    old = judge_context(_facts(_loaded(1, ctx=None), _card(131072)))
    assert old.status == "skipped" and "0.9.7" in old.evidence


def test_server_timing_compares_ollamas_rate_with_the_clients() -> None:
    same = judge_server_timing(_record(gap_ms=4.0))
    assert same.status == "pass" and same.facts["server_decode_tok_s"] == 250.0
    assert same.facts["client_decode_tok_s"] == pytest.approx(250.0)
    slow = judge_server_timing(_record(gap_ms=8.0))  # the client sees half Ollama's pace
    assert slow.status == "warn" and "(50% of Ollama's)" in slow.evidence
    assert judge_server_timing(_record(gap_ms=2.0)).status == "warn"  # bursts
    assert judge_server_timing(_record(timing={})).status == "warn"
    assert judge_server_timing(_record(error="boom")).status == "fail"
