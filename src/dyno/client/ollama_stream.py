"""One request to Ollama's native /api/chat, streamed as NDJSON, into a RequestRecord.

Why a second sender next to StreamClient: Ollama's OpenAI-compatible /v1
gives token counts but no timings, and only the native stream's final object
says how long the request spent loading the model, evaluating the prompt and
generating (`load_duration`, `prompt_eval_duration`, `eval_duration`). Its
framing is one JSON object per line, not server-sent events, so it does not
fit StreamClient's SSE path; it shares that client's httpx setup, exchange
(wire stamps, error naming, deadline), line reading (caps) and end-of-stream
errors instead. `dyno check` sends a couple of these per run; the benchmark
itself stays on /v1.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from dyno.client.ollama import timing_from_final
from dyno.client.records import Chunk, ChunkKind, GenRequest, RequestRecord
from dyno.client.stream import BaseClient, end_error, exchange, http_client, read_lines

PATH = "/api/chat"


def native_body(req: GenRequest) -> dict[str, Any]:
    """The native request for a chat GenRequest: sampling and length go in `options`
    (`num_predict` is Ollama's max_tokens)."""
    options: dict[str, Any] = {"num_predict": req.max_tokens, "temperature": req.temperature}
    if req.seed is not None:
        options["seed"] = req.seed
    return {"model": req.model, "messages": list(req.messages), "stream": True, "options": options}


class _Lines:
    """Accumulates one NDJSON response into the fields of a RequestRecord."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.t_first_chunk: int | None = None
        self.t_first_content: int | None = None
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.final: dict[str, Any] | None = None
        self.model: str | None = None
        self.malformed: list[str] = []
        self.error: str | None = None

    def feed(self, line: str, t: int) -> None:
        if not line.strip():
            return
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            self.malformed.append(f"bad JSON ({e.msg}): {line[:80]!r}")
            return
        if not isinstance(obj, dict):
            self.malformed.append(f"not an object: {line[:80]!r}")
            return
        if "error" in obj:  # Ollama reports a failure after the headers as one {"error": ...} line
            self.error = str(obj["error"])[:500]
            return
        if self.t_first_chunk is None:
            self.t_first_chunk = t
        self.model = obj.get("model", self.model)
        msg = obj.get("message")
        if not isinstance(msg, dict):
            msg = {}
        kind: ChunkKind = "empty"
        if msg.get("thinking"):
            self.reasoning.append(str(msg["thinking"]))
            kind = "reasoning"
        if msg.get("content"):
            self.text.append(str(msg["content"]))
            kind = "content"
        if kind != "empty" and self.t_first_content is None:
            self.t_first_content = t
        self.chunks.append(Chunk(t, kind, None))
        if obj.get("done") is True:
            self.final = obj


class OllamaNativeClient(BaseClient):
    """Async client for Ollama's native chat; one per run."""

    def _connect(self, transport: httpx.AsyncBaseTransport | None) -> None:
        self._http = http_client(self.base_url, self.api_key, self.config, transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def generate(self, req: GenRequest) -> RequestRecord:
        """Send one chat request and stream its answer; never raises on what the server does."""
        body = native_body(req)
        params = {k: v for k, v in body.items() if k != "messages"} | {"endpoint": f"ollama:{PATH}"}
        st = _Lines()

        async def read(resp: httpx.Response) -> tuple[str, str] | None:
            return await read_lines(resp, self.config, st.feed)

        ex = await exchange(self._http, PATH, body, self.config, read)
        truncated = "stream ended without its final done:true object" if st.final is None else None
        error = end_error(ex, st.error, st.malformed, truncated)
        final = st.final or {}
        timing = timing_from_final(final) if st.final else None
        return ex.record(
            params,
            error,
            st,
            prompt_tokens=timing.prompt_eval_count if timing else None,
            output_tokens=timing.eval_count if timing else None,
            finish_reason=final.get("done_reason"),
            server_timing=timing.as_server_timing() if timing else None,
        )
