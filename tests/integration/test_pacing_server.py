"""The pacing fixture itself: it must look like vLLM's HTTP surface and keep its schedule,
or the client tests built on it prove nothing."""

from __future__ import annotations

import asyncio
import zlib
from statistics import median

import httpx
import pytest

from dyno.client import Endpoint, GenRequest, RequestRecord, StreamClient
from dyno.metrics import parse
from tests.fixtures.pacing import StartPacing
from tests.fixtures.pacing_server import PacingConfig, PacingServer, serving

MODEL = "pacing-model"


def chat(n: int, user: str, *, ignore_eos: bool = True) -> GenRequest:
    return GenRequest(
        model=MODEL,
        messages=({"role": "user", "content": "a b c"},),
        max_tokens=n,
        ignore_eos=ignore_eos,
        extra={"user": user},
    )


async def _sequential(url: str, reqs: list[GenRequest]) -> list[RequestRecord]:
    async with StreamClient(url) as client:
        return [await client.generate(r) for r in reqs]


def test_probe_endpoints_answer_like_vllm(pacing_server: StartPacing) -> None:
    srv = pacing_server(model="gemma-test", max_model_len=8192)
    with Endpoint(srv.url) as ep:
        assert ep.healthy()
        [m] = ep.models()
        assert (m.id, m.max_model_len, m.root) == ("gemma-test", 8192, "gemma-test")
        assert ep.version() == "pacing-fixture"
        text = ep.metrics_text()
    assert text is not None
    assert "# TYPE vllm:generation_tokens_total counter" in text
    names = parse(text).names()
    assert {"vllm:generation_tokens_total", "vllm:prompt_tokens_total", "vllm:request_success_total"} <= names


def test_tokenize_counts_whitespace_words(pacing_server: StartPacing) -> None:
    srv = pacing_server(max_model_len=100)
    r = httpx.post(f"{srv.url}/tokenize", json={"model": MODEL, "prompt": "the quick  brown fox"})
    assert r.json() == {
        "count": 4,
        "max_model_len": 100,
        "tokens": [zlib.crc32(w.encode()) % 49152 for w in ("the", "quick", "brown", "fox")],
        "token_strs": None,
    }
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi there"}]},
    ]
    assert httpx.post(f"{srv.url}/tokenize", json={"model": MODEL, "messages": msgs}).json()["count"] == 4
    assert httpx.get(f"{srv.url}/nope").status_code == 404


def test_non_streaming_answers_one_json_completion_with_usage(pacing_server: StartPacing) -> None:
    srv = pacing_server(ttft_s=0.05, itl_s=0.01, reasoning_tokens=1)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "a b c"}], "max_tokens": 3}
    out = httpx.post(f"{srv.url}/v1/chat/completions", json=body).json()
    assert out["choices"][0]["message"]["content"] == " tok1 tok2"
    assert out["choices"][0]["message"]["reasoning"] == " tok0"
    assert out["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    comp = httpx.post(
        f"{srv.url}/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 2}
    ).json()
    assert comp["choices"][0]["text"] == " tok0 tok1" and comp["object"] == "text_completion"


def test_one_client_reuses_one_kept_alive_connection(pacing_server: StartPacing) -> None:
    srv = pacing_server(ttft_s=0.0, itl_s=0.001)
    records = asyncio.run(_sequential(srv.url, [chat(3, f"k{i}") for i in range(5)]))
    assert all(r.ok for r in records)
    assert srv.connections_opened == 1


def test_eos_ends_early_unless_ignore_eos(pacing_server: StartPacing) -> None:
    srv = pacing_server(ttft_s=0.0, itl_s=0.001, eos_after_tokens=5)
    early, full = asyncio.run(_sequential(srv.url, [chat(20, "e", ignore_eos=False), chat(20, "f")]))
    assert (early.output_tokens, early.finish_reason) == (5, "stop")
    assert (full.output_tokens, full.finish_reason) == (20, "length")


def test_chunks_keep_to_absolute_deadlines_so_lateness_does_not_accumulate(
    pacing_server: StartPacing,
) -> None:
    # Sleeping itl after each send would drift by the sleep overshoot (~0.1-1 ms) every chunk:
    # 10-60 ms by the 60th. Against absolute deadlines the typical lateness stays small.
    ttft_s, itl_s, n = 0.02, 0.005, 60
    srv = pacing_server(ttft_s=ttft_s, itl_s=itl_s)
    [rec] = asyncio.run(_sequential(srv.url, [chat(n, "d")]))
    assert rec.ok
    sent = srv.record_for("d")
    late_ms = [
        (c.t_ns - sent.t_received_ns) / 1e6 - (ttft_s + i * itl_s) * 1e3
        for i, c in enumerate(sent.content_chunks)
    ]
    assert len(late_ms) == n
    assert min(late_ms) > -1.0  # never early
    assert median(late_ms[n // 2 :]) < 5.0  # the second half is no later than the first


def test_the_role_chunk_goes_out_before_ttft(pacing_server: StartPacing) -> None:
    srv = pacing_server(ttft_s=0.1, itl_s=0.001)
    asyncio.run(_sequential(srv.url, [chat(2, "r")]))
    sent = srv.record_for("r")
    assert [c.kind for c in sent.chunks] == ["role", "content", "content", "usage", "done"]
    assert (sent.chunks[1].t_ns - sent.chunks[0].t_ns) / 1e6 >= 90


def test_context_manager_and_kill_close_the_port() -> None:
    with serving(PacingConfig(ttft_s=0.0)) as srv:
        assert httpx.get(f"{srv.url}/health").status_code == 200
        url = srv.url
        srv.kill()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health")
    srv.stop()  # stopping twice is harmless


def test_two_servers_get_two_ports() -> None:
    with PacingServer() as a, PacingServer() as b:
        assert a.port != b.port and a.port > 0
