"""Shared prefixes: G system-prompt-like prefixes of P tokens, drawn per request with a Zipf skew.

What SGLang's generated-shared-prefix bench and GuideLLM's `prefix_buckets` do: many requests
open with the same long text (an agent's instructions, a RAG preamble), so a prefix cache
serves most of their prompt. dyno also says what a cache *could* serve, so a measured hit
rate far below it shows a cache that is off, too small (evicting) or raced by concurrency.

The theoretical figure is exact for the prompts sent: from the token ids the server's own
tokenizer gives (/tokenize), the shared length of two requests of one group and of two of
different groups (the chat template's head), then per request, in send order, what a block
prefix cache with unlimited room holds: whole blocks only, never the prompt's last token
(vLLM recomputes it to produce the first output token).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dyno.errors import UsageError
from dyno.workloads.synthetic import PromptTokenizer, calibrated_prompt, exact_prompt

SEP = "\n\n"  # between the shared prefix and the request's own text
DEFAULT_BLOCK_TOKENS = 16  # vLLM's default --block-size, used when the server does not say


@dataclass(frozen=True)
class SharedPrefixes:
    groups: int
    tokens: int
    zipf: float = 0.0  # 0: groups equally likely; 1: group k drawn with weight 1/k

    def __post_init__(self) -> None:
        if self.groups < 1 or self.tokens < 1 or self.zipf < 0:
            raise UsageError(
                "--prefix-groups and --prefix-tokens take whole numbers >= 1, --prefix-zipf a number >= 0"
            )

    def weights(self) -> list[float]:
        return [1.0 / (k + 1) ** self.zipf for k in range(self.groups)]

    def draw(self, rng: random.Random) -> int:
        return rng.choices(range(self.groups), weights=self.weights())[0]

    def spec(self) -> dict[str, Any]:
        return {"groups": self.groups, "tokens": self.tokens, "zipf": self.zipf}


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def cacheable_tokens(prompt_tokens: int, shared_tokens: int, block_tokens: int) -> int:
    """Tokens of a prompt a block prefix cache can serve when `shared_tokens` of it were seen."""
    return (min(shared_tokens, prompt_tokens - 1) // block_tokens) * block_tokens if prompt_tokens > 0 else 0


@dataclass
class PrefixPlan:
    """One run's prefixes, what they share, and which group each request drew (in send order)."""

    spec: SharedPrefixes
    texts: list[str]
    group_shared_tokens: list[int]  # shared by two requests of a group (template head included)
    head_shared_tokens: int  # shared by two requests of different groups
    exact: bool  # from the server's token ids; False: from token counts, estimated
    drawn: list[int] = field(default_factory=list)

    async def text(self, tok: PromptTokenizer, own_tokens: int, *, salt: str, rng: random.Random) -> str:
        group = self.spec.draw(rng)
        self.drawn.append(group)
        return self.texts[group] + SEP + await calibrated_prompt(tok, own_tokens, salt=salt)

    def facts(self, order: list[tuple[str, int, int]]) -> dict[str, Any]:
        return {
            **self.spec.spec(),
            "group_shared_tokens": self.group_shared_tokens,
            "head_shared_tokens": self.head_shared_tokens,
            "exact": self.exact,
            "order": [list(x) for x in order],
        }


async def plan_prefixes(tok: PromptTokenizer, spec: SharedPrefixes, salt: str) -> PrefixPlan:
    """The G prefix texts (salted, so no earlier run warmed the cache) and what their requests share."""
    texts = [
        (await exact_prompt(tok, spec.tokens, salt=f"{salt}-prefix{g}", chat=False)).text
        for g in range(spec.groups)
    ]
    shared: list[int] = []
    exact = True
    samples: list[list[int]] = []
    for g, text in enumerate(texts):
        a = await tok.ids(f"{text}{SEP}[{salt}-a{g}] one", chat=True)
        b = await tok.ids(f"{text}{SEP}[{salt}-b{g}] two", chat=True)
        if a is None or b is None:
            exact = False
            shared.append(await tok.count(text, chat=True))
            continue
        shared.append(common_prefix(a, b))
        samples.append(a)
    head = common_prefix(samples[0], samples[1]) if len(samples) > 1 else 0
    if len(samples) == 1:  # one group: the head is what a fresh request shares with it
        other = await tok.ids(f"[{salt}-head] three", chat=True)
        head = common_prefix(samples[0], other) if other is not None else 0
    return PrefixPlan(spec, texts, shared, head, exact)


@dataclass(frozen=True)
class CacheBound:
    hits: int  # tokens an unlimited block cache serves
    queries: int  # prompt tokens

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.queries if self.queries else None


def theoretical_hits(
    facts: Mapping[str, Any], prompt_tokens: Mapping[tuple[str, int], int], block_tokens: int
) -> dict[str, CacheBound]:
    """Per label, what an unlimited cache of `block_tokens` blocks serves of the requests sent, in order.

    A request is served its group's shared length if an earlier request drew its group, else the
    template head if any request came before. Requests without a stored prompt count are left out.
    """
    shared = facts["group_shared_tokens"]
    head = int(facts["head_shared_tokens"])
    seen: set[int] = set()
    out: dict[str, list[int]] = {}
    for label, seq, group in _order(facts["order"]):
        n = prompt_tokens.get((label, seq))
        if n is not None:
            known = shared[group] if group in seen else (head if seen else 0)
            hq = out.setdefault(label, [0, 0])
            hq[0] += cacheable_tokens(n, known, block_tokens)
            hq[1] += n
        seen.add(group)
    return {label: CacheBound(h, q) for label, (h, q) in out.items()}


def _order(rows: Iterable[Any]) -> Iterable[tuple[str, int, int]]:
    for label, seq, group in rows:
        yield str(label), int(seq), int(group)
