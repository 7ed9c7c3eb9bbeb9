"""The async OpenAI-compatible streaming client: the only code that sends generation requests.

Why httpx: one library gives both the async streaming client dyno measures
with and the sync client for probes, with explicit `Timeout`/`Limits` value
objects and a transport seam tests can swap. aiohttp is a little faster per
chunk but would add a second HTTP stack for the sync half.

One `StreamClient` per run; its connection pool bounds concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, Self

import httpx

from dyno.client.records import Chunk, ChunkKind, GenRequest, RequestRecord
from dyno.client.sse import Data, Done, LineSplitter, LineTooLong, Malformed, SSEParser


@dataclass(frozen=True)
class ClientConfig:
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 300.0  # between two bytes; long prefills stay silent for a while
    max_connections: int = 64
    # httpcore's pool (1.0.x) does work per request that grows with the number of
    # queued requests and connections; at 64 streams on two cores requests left
    # the client 0.4-0.7 s late and that time landed in TTFT (encode/httpcore#1035;
    # benchmarks/client_accuracy.py). Several small pools keep each one short.
    connections_per_pool: int = 8
    continuous_usage: bool = True
    # A server that stalls after its headers (or trickles keep-alives) must not hang a run:
    # the whole request, headers to last byte, gets this long.
    request_deadline_s: float = 1800.0
    max_response_bytes: int = 64 * 1024 * 1024
    max_line_bytes: int = 4 * 1024 * 1024


def _now() -> int:
    return time.perf_counter_ns()


class _StreamState:
    """Accumulates one streamed response into the fields of a RequestRecord."""

    def __init__(self) -> None:
        self.t_first_chunk: int | None = None
        self.t_first_content: int | None = None
        self.chunks: list[Chunk] = []
        self.cum_tokens = 0
        self.prompt_tokens: int | None = None
        self.output_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.cached_tokens: int | None = None
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.done = False
        self.malformed: list[str] = []
        self.stream_error: str | None = None
        self.server_timing: dict[str, Any] | None = None

    def on_event(self, ev: Data | Done | Malformed, t: int) -> None:
        if isinstance(ev, Done):
            self.done = True
            return
        if isinstance(ev, Malformed):
            self.malformed.append(f"{ev.reason}: {ev.raw[:80]!r}")
            return
        if self.t_first_chunk is None:
            self.t_first_chunk = t
        try:
            self._take_payload(ev.payload, t)
        except (AttributeError, TypeError, ValueError, KeyError) as e:
            # Valid JSON of an unexpected shape (`"choices": 5`, a string delta): count it
            # against the request like a bad line; generate() must never raise on server input.
            shape = f"unexpected chunk shape ({type(e).__name__}: {e})"
            self.malformed.append(f"{shape}: {str(ev.payload)[:80]!r}")

    def _take_payload(self, p: dict[str, Any], t: int) -> None:
        if "error" in p and not p.get("choices"):
            err = p["error"]
            self.stream_error = str(err.get("message", err) if isinstance(err, dict) else err)[:500]
            return
        self.model = p.get("model", self.model)
        # The server's own timing of this request, where it gives one: vLLM's `metrics`
        # (--enable-per-request-metrics, on the final usage chunk), llama.cpp's `timings`.
        for key, source in (("metrics", "vllm"), ("timings", "llama.cpp")):
            if isinstance(p.get(key), dict):
                self.server_timing = {"source": source, **p[key]}
        usage = p.get("usage") or None
        tokens_now: int | None = None
        if isinstance(usage, dict):
            self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
            ct = usage.get("completion_tokens")
            if isinstance(ct, int):
                tokens_now = ct - self.cum_tokens
                self.cum_tokens = ct
                self.output_tokens = ct
            details = usage.get("completion_tokens_details") or {}
            if isinstance(details, dict) and details.get("reasoning_tokens") is not None:
                self.reasoning_tokens = details["reasoning_tokens"]
            prompt_details = usage.get("prompt_tokens_details") or {}
            if isinstance(prompt_details, dict) and isinstance(prompt_details.get("cached_tokens"), int):
                self.cached_tokens = prompt_details["cached_tokens"]
        for choice in p.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            kind = self._take_choice(choice)
            if kind != "empty" and self.t_first_content is None:
                self.t_first_content = t
            self.chunks.append(Chunk(t, kind, tokens_now))
            tokens_now = None  # a multi-choice chunk's usage belongs to one chunk record

    def _take_choice(self, choice: dict[str, Any]) -> ChunkKind:
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta")
        if delta is None:  # /v1/completions
            text = choice.get("text") or ""
            self.text.append(text)
            return "content" if text else "empty"
        kind: ChunkKind = "empty"
        reasoning = delta.get("reasoning") or delta.get("reasoning_content")
        if reasoning:
            self.reasoning.append(reasoning)
            kind = "reasoning"
        for tc in delta.get("tool_calls") or []:
            slot = self.tools.setdefault(tc.get("index", 0), {"id": None, "name": "", "arguments": ""})
            slot["id"] = tc.get("id") or slot["id"]
            fn = tc.get("function") or {}
            slot["name"] += fn.get("name") or ""
            slot["arguments"] += fn.get("arguments") or ""
            kind = "tool"
        if delta.get("content"):
            self.text.append(delta["content"])
            kind = "content"
        return kind


ERROR_BODY_BYTES = 64 * 1024  # an error page is read this far, no further


async def _excerpt(resp: httpx.Response, limit: int = 1000) -> str:
    body = b""
    async for data in resp.aiter_bytes():
        body += data
        if len(body) >= ERROR_BODY_BYTES:
            break
    return body.decode("utf-8", "replace")[:limit]


async def _classify(resp: httpx.Response, status: int, headers: dict[str, str]) -> tuple[str, str] | None:
    """A named error for an answer that is not a stream of tokens; None when it is one.

    Each is a thing a proxy in front of an engine does: redirect to a login
    page, answer 502/503/504 for a dead upstream, return a whole JSON body or
    an HTML page where a stream was asked for.
    """
    if 300 <= status < 400:
        return (
            "redirect",
            f"HTTP {status} to {headers.get('location', '?')} (dyno does not follow redirects)",
        )
    if status in (502, 503, 504):
        return (
            "upstream_unavailable",
            f"HTTP {status} (a proxy whose engine is down?): {await _excerpt(resp)}",
        )
    if status >= 400:
        return (f"http_{status // 100}xx", await _excerpt(resp))
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("application/json", "text/html"):
        what = "a JSON body" if ctype == "application/json" else "an HTML page (a proxy's login page?)"
        return (
            "not_sse",
            f"HTTP {status} with {what} where an event stream was asked for: {await _excerpt(resp, 300)}",
        )
    return None


LineFn = Callable[[str, int], None]  # (a line of the body, perf_counter_ns when its bytes came)


async def read_lines(resp: httpx.Response, config: ClientConfig, on_line: LineFn) -> tuple[str, str] | None:
    """Feed the body to `on_line` line by line; a body or a line past its cap ends the request."""
    lines = LineSplitter(config.max_line_bytes)  # not resp.aiter_lines(): see LineSplitter
    total = 0
    try:
        async for data in resp.aiter_bytes():
            t = _now()
            total += len(data)
            if total > config.max_response_bytes:
                return (
                    "response_too_large",
                    f"the response passed {config.max_response_bytes} bytes; the rest was not read",
                )
            for line in lines.feed(data):
                on_line(line, t)
    except LineTooLong as e:
        return ("response_too_large", str(e))
    t = _now()
    for line in lines.close():
        on_line(line, t)
    return None


@dataclass(frozen=True)
class Exchange:
    """One streamed POST as the wire saw it: when it went out, when the headers came, how it ended."""

    t_sent_ns: int
    t_headers_ns: int | None
    t_end_ns: int
    status: int | None
    headers: dict[str, str]
    error: tuple[str, str] | None  # (kind, message); None when the body was read to its end

    def record(
        self, params: dict[str, Any], error: tuple[str, str] | None, st: StreamRead, **read: Any
    ) -> RequestRecord:
        """This exchange as a request record: its timing, status, headers and final error (`end_error`),
        what every stream parser reads alike (`st`), and what only this one read (tokens, tools, ...)."""
        return RequestRecord(
            params=params,
            t_sent_ns=self.t_sent_ns,
            t_headers_ns=self.t_headers_ns,
            t_first_chunk_ns=st.t_first_chunk,
            t_first_content_ns=st.t_first_content,
            t_end_ns=self.t_end_ns,
            chunks=tuple(st.chunks),
            output_text="".join(st.text),
            reasoning_text="".join(st.reasoning),
            response_model=st.model,
            http_status=self.status,
            response_headers=self.headers,
            error_kind=error[0] if error else None,
            error_message=error[1] if error else None,
            malformed_events=len(st.malformed),
            **read,
        )


class StreamRead(Protocol):
    """What the SSE and the NDJSON parsers both keep as a stream comes in."""

    t_first_chunk: int | None
    t_first_content: int | None
    chunks: list[Chunk]
    text: list[str]
    reasoning: list[str]
    model: str | None
    malformed: list[str]


async def exchange(
    http: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    config: ClientConfig,
    read: Callable[[httpx.Response], Awaitable[tuple[str, str] | None]],
) -> Exchange:
    """POST `body` and hand an answer that is a stream to `read`; every failure becomes a named error."""
    t_start = _now()
    wire: dict[str, int] = {}

    async def trace(event: str, _info: dict[str, Any]) -> None:
        # httpcore reports each step of a request. "Sent" is the moment the first byte
        # of the request goes to the socket: what came before (waiting for a pooled
        # connection, the event loop's backlog) is the client's own delay, not the
        # server's. Not the body's "complete": the write's drain can yield to a busy
        # loop, and the stamp would then come after the server has the request.
        if event.endswith("send_request_headers.started") and "sent" not in wire:
            wire["sent"] = _now()

    t_headers: int | None = None
    headers: dict[str, str] = {}
    status: int | None = None
    error: tuple[str, str] | None = None
    try:
        async with asyncio.timeout(config.request_deadline_s):
            async with http.stream("POST", path, json=body, extensions={"trace": trace}) as resp:
                t_headers = _now()
                status = resp.status_code
                # Kept for "who answered?" checks; credentials never leave here.
                headers = {
                    k.lower(): v
                    for k, v in resp.headers.items()
                    if k.lower() not in ("authorization", "set-cookie", "www-authenticate")
                }
                error = await _classify(resp, status, headers) or await read(resp)
    except TimeoutError:
        error = (
            "deadline",
            f"no complete answer within {config.request_deadline_s:g} s "
            "(the server stalled after answering, or the request is longer than --request-timeout)",
        )
    except httpx.TimeoutException as e:
        error = ("timeout", f"{type(e).__name__}: {e}")
    except httpx.ConnectError as e:
        error = ("connect", f"{type(e).__name__}: {e}")
    except (httpx.RemoteProtocolError, httpx.ReadError) as e:
        error = ("stream_broken", f"{type(e).__name__}: {e}")
    except httpx.HTTPError as e:
        error = ("http", f"{type(e).__name__}: {e}")
    return Exchange(wire.get("sent", t_start), t_headers, _now(), status, headers, error)


def end_error(
    ex: Exchange, stream_error: str | None, malformed: list[str], truncated: str | None
) -> tuple[str, str] | None:
    """A request's error, first cause first: the exchange's own (HTTP, timeout, caps), then what the
    stream said: an error event, malformed lines, or `truncated` when it ended without its end marker."""
    if ex.error is not None:
        return ex.error
    if stream_error:
        return ("stream_error", stream_error)
    if malformed:
        return ("malformed_stream", "; ".join(malformed[:3]))
    if truncated:
        return ("truncated_stream", truncated)
    return None


def http_client(
    base_url: str,
    api_key: str | None,
    config: ClientConfig,
    transport: httpx.AsyncBaseTransport | None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An httpx client for one endpoint: the bearer key (in memory only) and the client's timeouts."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
        timeout=httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
        transport=transport,
        **kwargs,
    )


class BaseClient:
    """What every generation client shares: made from a base URL (without `/v1`), an API key and a
    config; used as `async with`, which closes its connections."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        config: ClientConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or ClientConfig()
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key  # in memory only: worker processes need it to authenticate too
        self._connect(transport)

    def _connect(self, transport: httpx.AsyncBaseTransport | None) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        raise NotImplementedError


class StreamClient(BaseClient):
    """Async client for one endpoint's OpenAI-compatible streaming API."""

    def _connect(self, transport: httpx.AsyncBaseTransport | None) -> None:
        base_url, api_key = self.base_url, self.api_key
        per_pool = max(1, min(self.config.connections_per_pool, self.config.max_connections))
        n_pools = -(-self.config.max_connections // per_pool)
        # One TLS context for all pools: building one costs ~20 ms, even for http:// URLs.
        tls = httpx.create_ssl_context()
        limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        self._pools = [
            http_client(base_url, api_key, self.config, transport, verify=tls, limits=limits)
            for _ in range(n_pools)
        ]
        self._in_flight = [0] * n_pools
        self._continuous_usage = self.config.continuous_usage

    @property
    def continuous_usage(self) -> bool:
        return self._continuous_usage

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    async def generate(self, req: GenRequest) -> RequestRecord:
        """Send one request and stream its answer; never raises on what the server does."""
        rec = await self._generate_once(req)
        # Ask what this request was sent with, not the shared flag: under concurrency the
        # first rejected request clears the flag before the others' 400s come back, and
        # those must retry too.
        sent_opts = rec.params.get("stream_options") or {}
        if (
            rec.http_status == 400
            and sent_opts.get("continuous_usage_stats")
            and "continuous_usage_stats" in (rec.error_message or "")
        ):
            # Not vLLM (or an old one): go on without per-chunk token counts.
            self._continuous_usage = False
            rec = await self._generate_once(req)
        return rec

    async def warm(self, n: int) -> None:
        """Open up to `n` connections before the timed part, spread over the pools as requests will be:
        a request that has to open its own connection pays a TCP handshake nobody else does."""
        per_pool = max(1, -(-n // len(self._pools)))

        async def one(pool: httpx.AsyncClient) -> None:
            with contextlib.suppress(httpx.HTTPError):
                await pool.get("/health")

        await asyncio.gather(*(one(p) for p in self._pools for _ in range(min(per_pool, n))))

    async def _read_stream(self, resp: httpx.Response, st: _StreamState) -> tuple[str, str] | None:
        """Feed the body to the SSE parser; a body or a line past its cap ends the request."""
        parser = SSEParser()

        def on_line(line: str, t: int) -> None:
            for ev in parser.feed(line):
                st.on_event(ev, t)

        error = await read_lines(resp, self.config, on_line)
        if error is None:
            t = _now()
            for ev in parser.close():
                st.on_event(ev, t)
        return error

    async def _generate_once(self, req: GenRequest) -> RequestRecord:
        path = "/v1/chat/completions" if req.endpoint == "chat" else "/v1/completions"
        body = req.body(stream=True, continuous_usage=self._continuous_usage)
        params = {k: v for k, v in body.items() if k not in ("messages", "prompt", "tools")}
        params["endpoint"] = req.endpoint
        params["n_tools"] = len(req.tools)
        st = _StreamState()
        # The least busy pool; requests beyond its connections wait in it, as they would in one pool.
        pool = min(range(len(self._pools)), key=self._in_flight.__getitem__)
        self._in_flight[pool] += 1
        try:
            ex = await exchange(
                self._pools[pool], path, body, self.config, lambda resp: self._read_stream(resp, st)
            )
        finally:
            self._in_flight[pool] -= 1
        ended = st.done or st.finish_reason is not None
        error = end_error(
            ex,
            st.stream_error,
            st.malformed,
            None if ended else "stream ended without [DONE] or a finish_reason",
        )
        return ex.record(
            params,
            error,
            st,
            prompt_tokens=st.prompt_tokens,
            output_tokens=st.output_tokens,
            reasoning_tokens=st.reasoning_tokens,
            cached_tokens=st.cached_tokens,
            tool_calls=tuple(st.tools[i] for i in sorted(st.tools)),
            finish_reason=st.finish_reason,
            server_timing=st.server_timing,
        )
