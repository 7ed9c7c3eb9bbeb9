"""Small synchronous probes of an endpoint: health, models, version, metrics.

Used where waiting is the point (engine readiness, provenance before a run);
measurement goes through the async StreamClient.
"""

from __future__ import annotations

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

    def healthy(self) -> bool:
        """True when /health answers 200; False on any error (the server may be starting)."""
        try:
            return self._http.get("/health").status_code == 200
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
                out.append(ServedModel(str(m["id"]), m.get("max_model_len"), m.get("root")))
        return out

    def version(self) -> str | None:
        """vLLM's /version; None for servers that do not have it."""
        try:
            data = self._get_json("/version")
        except EndpointError:
            return None
        return str(data.get("version")) if isinstance(data, dict) and "version" in data else None

    def tokenize(
        self, model: str, *, prompt: str | None = None, messages: list[dict[str, Any]] | None = None
    ) -> int | None:
        """Token count from vLLM's /tokenize (chat template applied for messages); None if absent."""
        body: dict[str, Any] = {"model": model}
        if messages is not None:
            body["messages"] = messages
            body["add_generation_prompt"] = True
        else:
            body["prompt"] = prompt or ""
        try:
            r = self._http.post("/tokenize", json=body)
        except httpx.HTTPError:
            return None
        if r.status_code != 200:
            return None
        try:
            count = r.json().get("count")
        except ValueError:
            return None
        return int(count) if isinstance(count, int) else None

    def metrics_text(self) -> str | None:
        """The Prometheus exposition text of /metrics; None when there is none."""
        try:
            r = self._http.get("/metrics")
        except httpx.HTTPError:
            return None
        return r.text if r.status_code == 200 else None
