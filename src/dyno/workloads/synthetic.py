"""Prompts of an exact token length, and how their length was known.

Token counts come, in order of preference, from the server's own /tokenize
(the tokenizer that will actually see the prompt, chat template included),
from the model's tokenizer loaded locally, or from an estimate (4 characters
per token) that is labelled as such wherever it is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dyno.client.endpoint import Endpoint
from dyno.workloads.prompts import FILLER

Messages = list[dict[str, Any]]


class PromptTokenizer(Protocol):
    method: str  # how counts are known, for the record
    exact: bool

    async def count(self, text: str, *, chat: bool) -> int: ...

    async def ids(self, text: str, *, chat: bool) -> list[int] | None:
        """The token ids the server would see; None where only a count (or an estimate) is known."""
        ...

    async def chat_ids(self, messages: Messages, tools: Sequence[dict[str, Any]] = ()) -> list[int] | None:
        """The ids of a whole conversation, chat template and generation prompt included (and the
        tools it offers, which the template renders into the prompt)."""
        ...


def as_messages(text: str) -> Messages:
    return [{"role": "user", "content": text}]


class ServerTokenizer:
    method = "server /tokenize"
    exact = True

    def __init__(self, endpoint: Endpoint, model: str) -> None:
        self._ep = endpoint
        self._model = model

    async def count(self, text: str, *, chat: bool) -> int:
        kwargs: dict[str, Any] = {"messages": as_messages(text)} if chat else {"prompt": text}
        n = await asyncio.to_thread(self._ep.tokenize, self._model, **kwargs)
        if n is None:
            raise RuntimeError("the server's /tokenize stopped answering")
        return n

    async def ids(self, text: str, *, chat: bool) -> list[int] | None:
        if chat:
            return await self.chat_ids(as_messages(text))
        return await asyncio.to_thread(self._ep.token_ids, self._model, prompt=text)

    async def chat_ids(self, messages: Messages, tools: Sequence[dict[str, Any]] = ()) -> list[int] | None:
        return await asyncio.to_thread(self._ep.token_ids, self._model, messages=messages, tools=tools)


class LocalTokenizer:
    method = "local tokenizer"
    exact = True

    def __init__(self, folder: Path) -> None:
        from transformers import AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(str(folder))

    async def count(self, text: str, *, chat: bool) -> int:
        return len(await self.ids(text, chat=chat))

    async def ids(self, text: str, *, chat: bool) -> list[int]:
        if chat and getattr(self._tok, "chat_template", None):
            return await self.chat_ids(as_messages(text))
        return list(self._tok(text)["input_ids"])

    async def chat_ids(self, messages: Messages, tools: Sequence[dict[str, Any]] = ()) -> list[int]:
        if not getattr(self._tok, "chat_template", None):
            return list(self._tok(" ".join(str(m.get("content", "")) for m in messages))["input_ids"])
        ids = self._tok.apply_chat_template(
            messages, tools=list(tools) or None, tokenize=True, add_generation_prompt=True
        )
        return list(ids["input_ids"] if isinstance(ids, dict) else ids)


class EstimateTokenizer:
    method = "estimate (4 characters per token)"
    exact = False

    async def count(self, text: str, *, chat: bool) -> int:
        return max(1, len(text) // 4) + (8 if chat else 0)

    async def ids(self, text: str, *, chat: bool) -> list[int] | None:
        return None

    async def chat_ids(self, messages: Messages, tools: Sequence[dict[str, Any]] = ()) -> list[int] | None:
        return None


async def pick_tokenizer(endpoint: Endpoint, model: str, model_root: str | None) -> PromptTokenizer:
    if await asyncio.to_thread(endpoint.tokenize, model, prompt="hello") is not None:
        return ServerTokenizer(endpoint, model)
    if model_root and Path(model_root, "tokenizer_config.json").is_file():
        with contextlib.suppress(Exception):  # any failure here just means "estimate instead"
            return LocalTokenizer(Path(model_root))
    return EstimateTokenizer()


@dataclass(frozen=True)
class SyntheticPrompt:
    text: str
    target_tokens: int
    tokens: int  # as counted by `method`
    method: str
    exact: bool  # counted by a real tokenizer and equal to the target


def _words(salt: str, n_words: int) -> list[str]:
    base = FILLER.split()
    reps = n_words // len(base) + 1
    return [f"[{salt}]", *(base * reps)][: n_words + 1]


async def exact_prompt(
    tok: PromptTokenizer, target_tokens: int, *, salt: str, chat: bool = True
) -> SyntheticPrompt:
    """A prompt whose token count (template included for chat) is `target_tokens`, or as close as can be.

    The salt comes first so that two prompts built with different salts share
    no prefix, and a prefix cache cannot serve one from the other.
    """

    async def f(n: int) -> int:
        return await tok.count(" ".join(_words(salt, n)), chat=chat)

    base = await f(0)
    if target_tokens <= base:
        text = " ".join(_words(salt, 0))
        return SyntheticPrompt(text, target_tokens, base, tok.method, base == target_tokens and tok.exact)
    # Bracket, then bisect: f is non-decreasing in the number of words.
    sample = 200
    per_word = max(0.5, (await f(sample) - base) / sample)
    lo = 0
    hi = max(1, int((target_tokens - base) / per_word * 1.1) + 2)
    while await f(hi) <= target_tokens:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if await f(mid) <= target_tokens:
            lo = mid
        else:
            hi = mid
    text = " ".join(_words(salt, lo))
    count = await f(lo)
    # Close the last gap with short single tokens.
    for _ in range(8):
        if count >= target_tokens:
            break
        candidate = text + " a"
        c = await tok.count(candidate, chat=chat)
        if c > target_tokens:
            break
        text, count = candidate, c
    return SyntheticPrompt(text, target_tokens, count, tok.method, tok.exact and count == target_tokens)


# Per tokenizer object (a run's), and per chat/plain: (tokens of the salt alone, tokens per word).
_CALIBRATION: weakref.WeakKeyDictionary[Any, dict[bool, tuple[int, float]]] = weakref.WeakKeyDictionary()


async def calibrated_prompt(tok: PromptTokenizer, target_tokens: int, *, salt: str, chat: bool = True) -> str:
    """A prompt of about `target_tokens` tokens, from one measurement of tokens per word.

    `exact_prompt` bisects with a tokenizer call per step, which is right for a
    handful of prompts and too slow for the thousands a load needs (each of a
    drawn length). The estimate is within a few tokens; the server's own count
    of every prompt is stored with its request.
    """
    known = _CALIBRATION.setdefault(tok, {})
    if chat not in known:
        base = await tok.count(" ".join(_words("calibration", 0)), chat=chat)
        sample = 400
        per_word = max(
            0.5, (await tok.count(" ".join(_words("calibration", sample)), chat=chat) - base) / sample
        )
        known[chat] = (base, per_word)
    base, per_word = known[chat]
    words = max(0, round((target_tokens - base) / per_word))
    return " ".join(_words(salt, words))
