"""What the client records when a server (or a proxy in front of it) answers with anything but a token stream.

Each case is something seen in front of real engines: a redirect to a login
page, a 502/503 for a dead upstream, a JSON or HTML body where SSE was asked
for, a body or a line without end, a server that stalls after its headers.
The socket is replaced by httpx.MockTransport; the client is the real code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from dyno.client import ClientConfig, GenRequest, RequestRecord, StreamClient
from dyno.metrics import parse

REQ = GenRequest(model="m", messages=({"role": "user", "content": "hi"},), max_tokens=8)


def run(handler: httpx.MockTransport, config: ClientConfig | None = None) -> RequestRecord:
    async def go() -> RequestRecord:
        async with StreamClient("http://test", transport=handler, config=config) as client:
            return await client.generate(REQ)

    return asyncio.run(go())


def fixed(status: int, body: bytes, headers: dict[str, str] | None = None) -> httpx.MockTransport:
    return httpx.MockTransport(lambda _r: httpx.Response(status, content=body, headers=headers or {}))


def test_a_redirect_is_named_with_its_location() -> None:
    r = run(fixed(302, b"", {"location": "https://sso.example/login"}))
    assert r.error_kind == "redirect" and "https://sso.example/login" in (r.error_message or "")


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_proxy_with_a_dead_upstream_is_named(status: int) -> None:
    r = run(fixed(status, b"<html>Bad Gateway</html>"))
    assert r.error_kind == "upstream_unavailable" and f"HTTP {status}" in (r.error_message or "")


def test_a_json_body_where_a_stream_was_asked_for() -> None:
    body = b'{"choices": [{"message": {"content": "hi"}}]}'
    r = run(fixed(200, body, {"content-type": "application/json"}))
    assert r.error_kind == "not_sse" and "JSON body" in (r.error_message or "")


def test_an_html_login_page_is_not_a_stream() -> None:
    r = run(fixed(200, b"<html><form>Sign in</form></html>", {"content-type": "text/html; charset=utf-8"}))
    assert r.error_kind == "not_sse" and "HTML page" in (r.error_message or "")


class Endless(httpx.AsyncByteStream):
    """A body that never ends (a line without a newline, or lines forever)."""

    def __init__(self, piece: bytes) -> None:
        self.piece = piece

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield self.piece
            await asyncio.sleep(0)


def test_a_line_without_end_is_cut_at_its_cap() -> None:
    t = httpx.MockTransport(lambda _r: httpx.Response(200, stream=Endless(b"x" * 4096)))
    r = run(t, ClientConfig(max_line_bytes=64 * 1024))
    assert r.error_kind == "response_too_large" and "without ending" in (r.error_message or "")


def test_a_body_without_end_is_cut_at_its_cap() -> None:
    t = httpx.MockTransport(lambda _r: httpx.Response(200, stream=Endless(b": keep-alive\n\n" * 100)))
    r = run(t, ClientConfig(max_response_bytes=256 * 1024))
    assert r.error_kind == "response_too_large"


class Stall(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n'
        await asyncio.sleep(3600)
        yield b""


def test_a_server_that_stalls_after_its_headers_meets_the_deadline() -> None:
    t = httpx.MockTransport(lambda _r: httpx.Response(200, stream=Stall()))
    r = run(t, ClientConfig(request_deadline_s=0.3))
    assert r.error_kind == "deadline" and r.output_text == "a"  # what came before the stall is kept


def test_metrics_that_are_not_prometheus_text_parse_to_an_empty_scrape_with_the_reason() -> None:
    s = parse("<html><body>Please sign in</body></html>", 5)
    assert s.samples == {} and s.error is not None and "not Prometheus text" in s.error
    assert s.total("vllm:generation_tokens_total") is None
