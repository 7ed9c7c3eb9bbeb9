"""StreamClient over httpx.MockTransport: what it records for each way a response can go.

The transport is the seam (as in httpx's own tests): the client, the SSE parser
and the record-building are the real code; only the socket is replaced.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyno.client import GenRequest, RequestRecord, StreamClient

Handler = (
    Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
    | Callable[[httpx.Request], httpx.Response]
)

REQ = GenRequest(model="m", messages=({"role": "user", "content": "hi"},), max_tokens=8)


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish: str | None = None,
    completion_tokens: int | None = None,
    choices: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m"}
    obj["choices"] = (
        choices if choices is not None else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    )
    if completion_tokens is not None:
        obj["usage"] = {
            "prompt_tokens": 5,
            "completion_tokens": completion_tokens,
            "total_tokens": 5 + completion_tokens,
        }
    return obj


def sse(payloads: Iterable[dict[str, Any] | str], *, done: bool = True) -> bytes:
    out = ""
    for p in payloads:
        out += f"data: {p if isinstance(p, str) else json.dumps(p, ensure_ascii=False)}\n\n"
    if done:
        out += "data: [DONE]\n\n"
    return out.encode()


def vllm_stream(words: list[str], *, per_chunk: list[int] | None = None) -> bytes:
    """A vLLM-like chat stream: role chunk, one chunk per word, final usage chunk, [DONE]."""
    per_chunk = per_chunk or [1] * len(words)
    payloads = [chunk({"role": "assistant", "content": ""}, completion_tokens=0)]
    total = 0
    for i, (w, n) in enumerate(zip(words, per_chunk, strict=True)):
        total += n
        fin = "length" if i == len(words) - 1 else None
        payloads.append(chunk({"content": w}, finish=fin, completion_tokens=total))
    payloads.append(chunk(choices=[], completion_tokens=total))
    return sse(payloads)


class Parts(httpx.AsyncByteStream):
    """A response body that arrives in the given pieces."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for p in self.parts:
            yield p


async def generate_with(handler: Handler, req: GenRequest = REQ, n: int = 1) -> list[RequestRecord]:
    async with StreamClient("http://test", transport=httpx.MockTransport(handler)) as client:
        return list(await asyncio.gather(*(client.generate(req) for i in range(n))))


def one(handler: Handler, req: GenRequest = REQ) -> RequestRecord:
    return asyncio.run(generate_with(handler, req))[0]


def respond(status: int, body: bytes) -> Handler:
    return lambda request: httpx.Response(status, content=body)


# ---- a normal stream --------------------------------------------------------------------------


def test_a_vllm_stream_is_recorded_with_per_chunk_tokens() -> None:
    r = one(respond(200, vllm_stream([" a", " b", " c"], per_chunk=[1, 3, 2])))
    assert r.ok and r.http_status == 200
    assert r.output_text == " a b c"
    assert r.output_tokens == 6 and r.prompt_tokens == 5
    assert [(c.kind, c.tokens) for c in r.chunks] == [
        ("empty", 0),
        ("content", 1),
        ("content", 3),
        ("content", 2),
    ]
    assert r.finish_reason == "length"
    assert r.response_model == "m"
    # TTFT is at the first content chunk, not the role chunk
    assert r.t_first_chunk_ns == r.chunks[0].t_ns
    assert r.t_first_content_ns == r.chunks[1].t_ns


def test_the_request_asks_for_usage_on_every_chunk() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, content=vllm_stream([" a"]))

    r = one(handler, GenRequest(model="m", prompt="p", endpoint="completions", ignore_eos=True))
    assert seen[0]["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    assert seen[0]["stream"] is True and seen[0]["ignore_eos"] is True and seen[0]["prompt"] == "p"
    assert r.params["endpoint"] == "completions"


def test_completions_text_chunks_are_content() -> None:
    payloads = [
        {"choices": [{"index": 0, "text": " x", "finish_reason": None}], "usage": {"completion_tokens": 1}},
        {
            "choices": [{"index": 0, "text": " y", "finish_reason": "length"}],
            "usage": {"completion_tokens": 2},
        },
    ]
    r = one(respond(200, sse(payloads)))
    assert r.ok and r.output_text == " x y"
    assert [c.kind for c in r.chunks] == ["content", "content"]


def test_reasoning_text_is_captured_apart_from_content() -> None:
    payloads = [
        chunk({"role": "assistant", "content": ""}, completion_tokens=0),
        chunk({"reasoning": "Let me"}, completion_tokens=2),
        chunk({"reasoning_content": " think."}, completion_tokens=4),
        chunk({"content": "42"}, finish="stop", completion_tokens=5),
    ]
    r = one(respond(200, sse(payloads)))
    assert r.reasoning_text == "Let me think."
    assert r.output_text == "42"
    assert [c.kind for c in r.chunks] == ["empty", "reasoning", "reasoning", "content"]
    assert r.t_first_content_ns == r.chunks[1].t_ns  # reasoning is the first output


def test_tool_calls_accumulate_name_and_arguments_per_index() -> None:
    def tc(
        index: int, *, id: str | None = None, name: str | None = None, args: str | None = None
    ) -> dict[str, Any]:
        fn: dict[str, Any] = {}
        if name is not None:
            fn["name"] = name
        if args is not None:
            fn["arguments"] = args
        out: dict[str, Any] = {"index": index, "function": fn}
        if id is not None:
            out |= {"id": id, "type": "function"}
        return out

    payloads = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"tool_calls": [tc(0, id="call_a", name="get_weather", args="")]}),
        chunk({"tool_calls": [tc(0, args='{"city": ')]}),
        chunk({"tool_calls": [tc(1, id="call_b", name="get_time", args='{"tz"')]}),
        chunk({"tool_calls": [tc(0, args='"Paris"}')]}),
        chunk({"tool_calls": [tc(1, args=': "CET"}')]}, finish="tool_calls"),
    ]
    r = one(respond(200, sse(payloads)))
    assert r.ok and r.finish_reason == "tool_calls"
    assert r.tool_calls == (
        {"id": "call_a", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "call_b", "name": "get_time", "arguments": '{"tz": "CET"}'},
    )
    assert json.loads(r.tool_calls[0]["arguments"]) == {"city": "Paris"}
    assert [c.kind for c in r.chunks] == ["empty", "tool", "tool", "tool", "tool", "tool"]


def test_a_token_holding_a_unicode_line_separator_does_not_break_its_event() -> None:
    # vLLM's JSON (pydantic) leaves U+2028 / U+2029 / NEL raw inside strings.
    words = [" a\u2028b", " c\u2029d", " e\x85f"]
    r = one(respond(200, vllm_stream(words)))
    assert r.ok, r.error_message
    assert r.output_text == "".join(words)
    assert r.malformed_events == 0


# ---- errors -----------------------------------------------------------------------------------


def test_400_is_http_4xx_with_the_body_excerpt() -> None:
    body = {
        "object": "error",
        "message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    r = one(respond(400, json.dumps(body).encode()))
    assert r.error_kind == "http_4xx" and r.http_status == 400 and not r.ok
    assert "--enable-auto-tool-choice" in (r.error_message or "")
    assert r.chunks == ()


def test_500_is_http_5xx() -> None:
    r = one(respond(500, b"Internal Server Error"))
    assert r.error_kind == "http_5xx" and r.http_status == 500
    assert r.error_message == "Internal Server Error"


def test_the_body_excerpt_is_bounded() -> None:
    r = one(respond(500, b"x" * 10_000))
    assert r.error_kind == "http_5xx" and len(r.error_message or "") == 1000


def test_a_malformed_line_makes_a_malformed_stream_but_the_rest_is_still_read() -> None:
    payloads: list[dict[str, Any] | str] = [
        chunk({"content": " a"}, completion_tokens=1),
        '{"choices": [{"delta": {"content',
        chunk({"content": " b"}, finish="length", completion_tokens=2),
    ]
    r = one(respond(200, sse(payloads)))
    assert r.error_kind == "malformed_stream"
    assert r.malformed_events == 1
    assert "bad JSON" in (r.error_message or "")
    assert r.output_text == " a b" and r.output_tokens == 2


def test_a_chunk_of_an_unexpected_shape_is_malformed_not_raised() -> None:
    payloads: list[dict[str, Any] | str] = [
        {"choices": 5},
        {"choices": ["not an object"]},
        {"choices": [{"index": 0, "delta": "a string"}]},
        chunk({"content": " a"}, finish="length", completion_tokens=1),
    ]
    r = one(respond(200, sse(payloads)))
    assert r.error_kind == "malformed_stream"
    assert r.malformed_events == 3
    assert r.output_text == " a"


def test_a_stream_without_done_or_finish_reason_is_truncated() -> None:
    payloads = [chunk({"content": " a"}, completion_tokens=1), chunk({"content": " b"}, completion_tokens=2)]
    r = one(respond(200, sse(payloads, done=False)))
    assert r.error_kind == "truncated_stream"
    assert r.output_text == " a b"


def test_a_finish_reason_without_done_is_complete() -> None:
    # some OpenAI-compatible servers end without [DONE]; the finish_reason says it finished
    r = one(respond(200, sse([chunk({"content": " a"}, finish="stop")], done=False)))
    assert r.ok


def test_an_error_event_inside_the_stream_is_a_stream_error() -> None:
    payloads = [chunk({"content": " a"}), {"error": {"message": "engine dead", "code": 500}}]
    r = one(respond(200, sse(payloads, done=False)))
    assert r.error_kind == "stream_error" and r.error_message == "engine dead"


def test_a_connection_error_is_recorded_not_raised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    r = one(handler)
    assert r.error_kind == "connect" and r.http_status is None


def test_a_read_error_mid_stream_is_stream_broken_and_keeps_what_came() -> None:
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield sse([chunk({"content": " a"}, completion_tokens=1)], done=False)
            raise httpx.ReadError("connection reset")

    r = one(lambda request: httpx.Response(200, stream=Broken()))
    assert r.error_kind == "stream_broken"
    assert r.output_text == " a" and len(r.chunks) == 1


def test_a_timeout_is_recorded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    assert one(handler).error_kind == "timeout"


# ---- the continuous_usage_stats fallback ------------------------------------------------------


def rejecting_continuous_usage(log: list[dict[str, Any]], *, barrier: int = 1) -> Handler:
    """A non-vLLM server: 400 when asked for continuous_usage_stats. Holds the first `barrier`
    rejected requests until all have arrived, so concurrent requests really overlap."""
    arrived = asyncio.Event()
    waiting = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal waiting
        body = json.loads(request.content)
        log.append(body)
        if "continuous_usage_stats" in body["stream_options"]:
            waiting += 1
            if waiting >= barrier:
                arrived.set()
            await arrived.wait()
            msg = {"error": {"message": "Unrecognized request argument supplied: continuous_usage_stats"}}
            return httpx.Response(400, json=msg)
        payloads = [chunk({"content": " a"}), chunk({"content": " b"}, finish="length"), chunk(choices=[])]
        payloads[-1]["usage"] = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        return httpx.Response(200, content=sse(payloads))

    return handler


def test_a_400_about_continuous_usage_stats_retries_once_without_it() -> None:
    log: list[dict[str, Any]] = []
    r = one(rejecting_continuous_usage(log))
    assert len(log) == 2
    assert log[0]["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    assert log[1]["stream_options"] == {"include_usage": True}
    assert r.ok and r.output_text == " a b"
    assert r.output_tokens == 2  # from the final usage chunk
    assert [c.tokens for c in r.chunks] == [None, None]  # no per-chunk counts now
    assert r.params["stream_options"] == {"include_usage": True}


def test_concurrent_requests_rejected_for_continuous_usage_all_retry() -> None:
    # The first rejected request turns the client's flag off before the others' 400s are
    # read; those were still sent with the option and must retry too.
    log: list[dict[str, Any]] = []
    records = asyncio.run(generate_with(rejecting_continuous_usage(log, barrier=4), n=4))
    assert [r.error_kind for r in records] == [None] * 4
    assert len(log) == 8
    assert sum("continuous_usage_stats" in b["stream_options"] for b in log) == 4


def test_a_later_request_after_the_fallback_is_sent_without_the_option() -> None:
    log: list[dict[str, Any]] = []

    async def run() -> tuple[RequestRecord, RequestRecord, bool]:
        transport = httpx.MockTransport(rejecting_continuous_usage(log))
        async with StreamClient("http://test", transport=transport) as client:
            a = await client.generate(REQ)
            b = await client.generate(REQ)
            return a, b, client.continuous_usage

    a, b, still_on = asyncio.run(run())
    assert a.ok and b.ok and not still_on
    assert len(log) == 3  # one rejected, its retry, and the second request straight away


def test_an_unrelated_400_is_not_retried() -> None:
    log: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        log.append(json.loads(request.content))
        return httpx.Response(400, json={"message": "max_tokens too large"})

    r = one(handler)
    assert r.error_kind == "http_4xx" and len(log) == 1


# ---- properties -------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=8),
    st.data(),
)
def test_any_split_of_the_body_into_network_reads_records_the_same(
    words: list[str], data: st.DataObject
) -> None:
    body = vllm_stream(words)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=10)))
    parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    r = one(lambda request: httpx.Response(200, stream=Parts(parts)))
    assert r.ok, r.error_message
    assert r.output_text == "".join(words)
    assert [c.tokens for c in r.chunks] == [0] + [1] * len(words)


JSON_LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
JSON_ANY = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
CHUNKISH = st.fixed_dictionaries(
    {},
    optional={
        "choices": JSON_ANY
        | st.lists(st.fixed_dictionaries({}, optional={"index": JSON_ANY, "delta": JSON_ANY})),
        "usage": JSON_ANY | st.fixed_dictionaries({}, optional={"completion_tokens": JSON_ANY}),
        "error": JSON_ANY,
        "model": JSON_ANY,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CHUNKISH, max_size=5))
def test_chunks_of_any_json_shape_never_raise(payloads: list[dict[str, Any]]) -> None:
    r = one(respond(200, sse(payloads)))
    assert isinstance(r, RequestRecord)
