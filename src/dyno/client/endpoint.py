"""Small synchronous probes of an endpoint: health, models, version, metrics.

Used where waiting is the point (engine readiness, provenance before a run);
measurement goes through the async StreamClient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from dyno.errors import EndpointError

PROBE_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


@dataclass(frozen=True)
class ServedModel:
    id: str
    max_model_len: int | None
    root: str | None
    quant: str | None = None  # the weight format the server says it loaded (llama-server: meta.ftype)


class Endpoint:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout = PROBE_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def healthy(self, path: str = "/health") -> bool:
        """True when `path` answers 200; False on any error (the server may be starting)."""
        try:
            return self._http.get(path).status_code == 200
        except httpx.HTTPError:
            return False

    def status_code(self, path: str) -> int | None:
        """The HTTP status a GET of `path` answers with; None when nothing answers."""
        try:
            return self._http.get(path).status_code
        except httpx.HTTPError:
            return None

    def _get_json(self, path: str) -> Any:
        try:
            r = self._http.get(path)
        except httpx.HTTPError as e:
            raise EndpointError(f"{self.base_url}{path}: {type(e).__name__}: {e}") from e
        if r.status_code != 200:
            raise EndpointError(f"{self.base_url}{path} answered HTTP {r.status_code}: {r.text[:300]}")
        try:
            return r.json()
        except ValueError as e:
            raise EndpointError(f"{self.base_url}{path} did not answer JSON: {r.text[:200]!r}") from e

    def models(self) -> list[ServedModel]:
        data = self._get_json("/v1/models")
        out = []
        for m in data.get("data", []) if isinstance(data, dict) else []:
            if isinstance(m, dict) and "id" in m:
                # llama-server says its per-slot context in meta.n_ctx; vLLM in max_model_len.
                meta = m.get("meta") if isinstance(m.get("meta"), dict) else None
                ctx = m.get("max_model_len") or (meta.get("n_ctx") if meta else None)
                ftype = meta.get("ftype") if meta else None
                out.append(
                    ServedModel(
                        str(m["id"]),
                        ctx if isinstance(ctx, int) else None,
                        m.get("root"),
                        str(ftype).lower() if ftype else None,
                    )
                )
        return out

    def json_or_none(self, path: str) -> Any:
        """The JSON a GET of `path` answers; None when it does not answer 200 with JSON."""
        try:
            return self._get_json(path)
        except EndpointError:
            return None

    def post_json_or_none(self, path: str, body: dict[str, Any]) -> Any:
        """The JSON a POST of `body` to `path` answers; None when it does not answer 200 with JSON."""
        try:
            r = self._http.post(path, json=body)
            return r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def identify(self) -> tuple[str | None, str | None]:
        """(engine, version) from the routes only one engine has; (None, None) when none answers.

        vLLM: /version. llama-server: /props with build_info ("b<N>-<commit>"). Ollama: /api/version.
        """
        data = self.json_or_none("/version")
        if isinstance(data, dict) and "version" in data:
            return "vllm", str(data["version"])
        props = self.json_or_none("/props")
        if isinstance(props, dict) and "build_info" in props:
            return "llama.cpp", str(props["build_info"])
        data = self.json_or_none("/api/version")
        if isinstance(data, dict) and "version" in data:
            return "ollama", str(data["version"])
        return None, None

    def version(self) -> str | None:
        """The engine's version, whichever engine it is; None for servers that do not say."""
        return self.identify()[1]

    def tokenize(
        self, model: str, *, prompt: str | None = None, messages: list[dict[str, Any]] | None = None
    ) -> int | None:
        """Token count from vLLM's /tokenize (chat template applied for messages); None if absent."""
        data = self._tokenize(model, prompt, messages)
        count = data.get("count") if data else None
        return int(count) if isinstance(count, int) else None

    def token_ids(
        self,
        model: str,
        *,
        prompt: str | None = None,
        messages: list[dict[str, Any]] | None = None,
        tools: Sequence[dict[str, Any]] = (),
    ) -> list[int] | None:
        """The token ids /tokenize gives (template applied for messages, with the tools a request offers:
        the template renders them into the prompt); None if it gives none."""
        data = self._tokenize(model, prompt, messages, tools)
        tokens = data.get("tokens") if data else None
        return [int(t) for t in tokens] if isinstance(tokens, list) else None

    def _tokenize(
        self,
        model: str,
        prompt: str | None,
        messages: list[dict[str, Any]] | None,
        tools: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any] | None:
        body: dict[str, Any] = {"model": model}
        if messages is not None:
            body["messages"] = messages
            body["add_generation_prompt"] = True
            if tools:
                body["tools"] = list(tools)
        else:
            body["prompt"] = prompt or ""
        data = self.post_json_or_none("/tokenize", body)
        return data if isinstance(data, dict) else None

    def metrics_text(self) -> str | None:
        """The Prometheus exposition text of /metrics; None when there is none."""
        try:
            r = self._http.get("/metrics")
        except httpx.HTTPError:
            return None
        return r.text if r.status_code == 200 else None
