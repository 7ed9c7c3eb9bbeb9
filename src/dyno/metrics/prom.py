"""Parse Prometheus exposition text into samples, and take counter deltas.

prometheus_client's parser does the parsing; we only flatten it into
(name, labels) -> value and sum over label sets where a question is about the
whole server (e.g. all `vllm:generation_tokens_total` across engines).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
# One counter under the names engines give it (vLLM's, then llama.cpp's): the first exported wins.
Name = str | tuple[str, ...]


def _names(name: Name) -> tuple[str, ...]:
    return (name,) if isinstance(name, str) else name


@dataclass(frozen=True)
class Scrape:
    t_ns: int  # perf_counter_ns when the scrape returned
    samples: Mapping[tuple[str, Labels], float]
    error: str | None = None  # why the text could not be read as Prometheus exposition

    def total(self, name: Name, **match: str) -> float | None:
        """Sum of all samples called `name` whose labels include `match`; None if there are none."""
        for one in _names(name):
            vals = [
                v
                for (n, labels), v in self.samples.items()
                if n == one and all((k, want) in labels for k, want in match.items())
            ]
            if vals:
                return sum(vals)
        return None

    def names(self) -> set[str]:
        return {n for n, _ in self.samples}

    def by_label(self, name: Name, label: str) -> dict[str, float]:
        for one in _names(name):
            out: dict[str, float] = {}
            for (n, labels), v in self.samples.items():
                if n == one:
                    key = dict(labels).get(label)
                    if key is not None:
                        out[key] = out.get(key, 0.0) + v
            if out:
                return out
        return {}


def parse(text: str, t_ns: int = 0) -> Scrape:
    """The samples of an exposition text; never raises on what a server sent.

    A proxy's HTML page (or any text that is not Prometheus exposition) gives
    an empty scrape whose `error` says why, so every counter reads as absent.
    """
    samples: dict[tuple[str, Labels], float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    except Exception as e:  # the parser raises ValueError, IndexError, ... on foreign text
        head = " ".join(text[:60].split())
        return Scrape(t_ns, {}, f"not Prometheus text ({type(e).__name__}; it starts {head!r})")
    return Scrape(t_ns, samples)


def counter_delta(before: Scrape, after: Scrape, name: Name, **match: str) -> float | None:
    """after - before for a counter; None when the server does not export it."""
    a = after.total(name, **match)
    if a is None:
        return None
    b = before.total(name, **match)
    return a - (b or 0.0)
