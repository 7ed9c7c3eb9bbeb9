"""What one request asked for and what happened to it, with raw timestamps.

All `t_*_ns` values are `time.perf_counter_ns()` readings taken by the client:
comparable with each other within one run, meaningless across runs. A run
stores one (wall clock, perf counter) pair to anchor them.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, overload

Endpoint = Literal["chat", "completions"]
ChunkKind = Literal["content", "reasoning", "tool", "empty"]


def server_message(body: str | None, limit: int = 300) -> str:
    """The `message` of an OpenAI-style error body (`{"error": {"message": ...}}`), else the body itself."""
    try:
        doc = json.loads(body or "")
    except json.JSONDecodeError:
        return (body or "")[:limit]
    err = doc.get("error", doc) if isinstance(doc, dict) else doc
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return str(err["message"])[:limit]
    return (body or "")[:limit]


@dataclass(frozen=True)
class GenRequest:
    """One generation request, in OpenAI terms plus vLLM's extensions."""

    model: str
    messages: tuple[dict[str, Any], ...] = ()
    prompt: str | None = None  # for the completions endpoint
    endpoint: Endpoint = "chat"
    max_tokens: int = 128
    temperature: float = 0.0
    seed: int | None = None
    ignore_eos: bool = False  # vLLM: keep generating past EOS, for a fixed output length
    min_tokens: int | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def user(cls, model: str, text: str, max_tokens: int, **kw: Any) -> GenRequest:
        """The one way a greedy chat of a single user message is built (bench, check and verify send it)."""
        return cls(model, ({"role": "user", "content": text},), max_tokens=max_tokens, **kw)

    def body(self, *, stream: bool, continuous_usage: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }
        if self.endpoint == "chat":
            body["messages"] = list(self.messages)
        else:
            body["prompt"] = self.prompt or ""
        if stream:
            opts: dict[str, Any] = {"include_usage": True}
            if continuous_usage:
                # vLLM: usage on every chunk, so each chunk's token count is known
                # (several tokens per chunk under speculative decoding).
                opts["continuous_usage_stats"] = True
            body["stream_options"] = opts
        if self.seed is not None:
            body["seed"] = self.seed
        if self.ignore_eos:
            body["ignore_eos"] = True
        if self.min_tokens is not None:
            body["min_tokens"] = self.min_tokens
        if self.tools:
            body["tools"] = list(self.tools)
        if self.tool_choice is not None:
            body["tool_choice"] = self.tool_choice
        body.update(self.extra)
        return body


@dataclass(frozen=True, slots=True)
class Chunk:
    t_ns: int
    kind: ChunkKind
    tokens: int | None  # from the server's cumulative usage; None when it did not say


_KINDS: tuple[ChunkKind, ...] = ("content", "reasoning", "tool", "empty")


class ChunkSeq(Sequence[Chunk]):
    """Chunks in 13 bytes each instead of a Python object each.

    A report of a 10,000-request run reads over a million chunks; as objects
    they took ~270 MB, as three typed arrays they take ~17 MB. It reads like a
    tuple of Chunk (iteration, indexing, equality with a tuple), which is all
    the derivations need.
    """

    __slots__ = ("_kinds", "_t", "_tok")

    def __init__(self, chunks: Iterable[Chunk] = ()) -> None:
        self._t = array("q")
        self._kinds = bytearray()
        self._tok = array("i")
        for c in chunks:
            self.append(c.t_ns, c.kind, c.tokens)

    def append(self, t_ns: int, kind: ChunkKind, tokens: int | None) -> None:
        self._t.append(t_ns)
        self._kinds.append(_KINDS.index(kind))
        self._tok.append(-1 if tokens is None else tokens)

    def __len__(self) -> int:
        return len(self._t)

    @overload
    def __getitem__(self, i: int) -> Chunk: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Chunk, ...]: ...
    def __getitem__(self, i: int | slice) -> Chunk | tuple[Chunk, ...]:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        tok = self._tok[i]
        return Chunk(self._t[i], _KINDS[self._kinds[i]], None if tok < 0 else tok)

    def __iter__(self) -> Iterator[Chunk]:
        for t, k, tok in zip(self._t, self._kinds, self._tok, strict=True):
            yield Chunk(t, _KINDS[k], None if tok < 0 else tok)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ChunkSeq({list(self)!r})"


@dataclass(frozen=True)
class RequestRecord:
    """What one request asked for and got. The client fills in everything but the tags
    (scenario, label, seq): those belong to whoever sent it, who adds them with `tagged`."""

    params: dict[str, Any]
    t_sent_ns: int  # the request was written to the socket (httpcore's trace); else when it was sent
    t_headers_ns: int | None = None
    t_first_chunk_ns: int | None = None
    t_first_content_ns: int | None = None  # first chunk carrying content or reasoning
    t_end_ns: int | None = None
    chunks: Sequence[Chunk] = ()
    prompt_tokens: int | None = None
    output_tokens: int | None = None  # usage.completion_tokens
    reasoning_tokens: int | None = None
    # usage.prompt_tokens_details.cached_tokens: prompt tokens the server's prefix cache served
    # (vLLM gives it with --enable-prompt-tokens-details); None when it did not say
    cached_tokens: int | None = None
    output_text: str = ""
    reasoning_text: str = ""
    tool_calls: tuple[dict[str, Any], ...] = ()
    finish_reason: str | None = None
    response_model: str | None = None
    http_status: int | None = None
    error_kind: str | None = None  # http_4xx, http_5xx, timeout, connect, read, malformed_stream, ...
    error_message: str | None = None
    malformed_events: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)  # names lower-cased; no auth headers
    t_intended_ns: int | None = None  # when the load meant it to leave (a rate schedule, a freed slot)
    server_timing: dict[str, Any] | None = None  # the server's own per-request timing, as it gave it
    scenario: str = ""
    label: str = ""
    seq: int = 0

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    def tagged(
        self, scenario: str, label: str = "", seq: int = 0, *, intended_ns: int | None = None
    ) -> RequestRecord:
        return replace(self, scenario=scenario, label=label, seq=seq, t_intended_ns=intended_ns)
