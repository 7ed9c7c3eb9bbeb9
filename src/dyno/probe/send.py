"""How a check sends: greedy requests to the served model, each stored and counted by the run's recorder.

Shared by the generic checks (probe/runner.py) and the engine-specific ones
(probe/ollama.py), which send through other clients (the native Ollama API,
a router in front of the engine) into the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dyno.client import Endpoint, GenRequest, RequestRecord, StreamClient
from dyno.metrics import Scrape
from dyno.store import RunRecorder
from dyno.store.recorder import Generator


@dataclass(frozen=True)
class Prober:
    """The checks' sender: the run they are stored in, the engine's client and endpoint, the model."""

    run: RunRecorder
    client: StreamClient
    ep: Endpoint
    model: str

    def chat(self, text: str, max_tokens: int, **kw: Any) -> GenRequest:
        return GenRequest.user(self.model, text, max_tokens, seed=0, **kw)

    def complete(self, text: str, max_tokens: int) -> GenRequest:
        return GenRequest(
            self.model, prompt=text, endpoint="completions", max_tokens=max_tokens, temperature=0.0, seed=0
        )

    async def send(
        self, req: GenRequest, check: str, label: str = "", *, client: Generator | None = None
    ) -> RequestRecord:
        """Send through the engine's client (or another: a router's, Ollama's native one) and store it."""
        return await self.run.send(client or self.client, req, scenario=check, label=label)

    async def scrape(self, check: str, label: str) -> Scrape | None:
        return await self.run.scrape(self.ep, check, label)
