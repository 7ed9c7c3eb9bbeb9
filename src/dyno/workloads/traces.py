"""Trace replay: a public request trace's arrivals, lengths and prefix sharing, sent as they were.

Mooncake's format (kvcache-ai/Mooncake, FAST25-release/traces/), one JSON object per line:

    {"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, ...]}

`timestamp` is the arrival in ms from the trace's start; `hash_ids` name the prompt's blocks of
512 tokens (the trace's block size): equal ids are equal token blocks, so requests that open
with the same ids share that much prefix. The trace has no text; dyno builds it. Each hash id
becomes a block of words that are one token each (checked against the server's tokenizer), the
words drawn from a generator seeded with the run's salt and the id, so equal ids give byte-equal
blocks within a run and no earlier run warmed the cache. Prompts go to /v1/completions as plain
text, so the token ids the server sees are the blocks' (no chat template shifts them).

`length_scale` shrinks prompts (and the block size with them) for a model whose context is
shorter than the trace's; `time_scale` stretches the arrivals for a box that cannot serve a
datacenter's rate (2 = half the rate).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dyno.errors import UsageError
from dyno.workloads.prefixes import cacheable_tokens

MOONCAKE_BLOCK_TOKENS = 512
FORMATS = ("mooncake",)
# Short common words; the ones the server's tokenizer makes a single token (with their leading
# space) become the vocabulary blocks are drawn from.
_WORDS = (
    "the of and to in is for on that with as by at from it be this are was or an not but all can "
    "has more one new time will we they you he she his her its our their there what when which who "
    "how about into over after first also other some any only two most year people said may way "
    "up out than then them these so if no do my me day man work part life good well back just"
)
CANDIDATE_WORDS = tuple(_WORDS.split())


@dataclass(frozen=True)
class TraceRequest:
    timestamp_ms: float
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...]
    line: int  # in the file, for messages


@dataclass(frozen=True)
class Trace:
    path: str
    format: str
    block_tokens: int  # the trace's own block size
    requests: tuple[TraceRequest, ...]  # in arrival order

    def span_ms(self) -> float:
        return self.requests[-1].timestamp_ms - self.requests[0].timestamp_ms if self.requests else 0.0


def _field(obj: dict[str, object], key: str, where: str, *, minimum: int) -> int:
    v = obj.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise UsageError(f"{where}: `{key}` must be a whole number >= {minimum}, not {v!r}")
    return v


def load_trace(path: Path, fmt: str = "mooncake", limit: int | None = None) -> Trace:
    """The trace's first `limit` requests (all when None), in arrival order; a malformed line is
    refused with its number, and nothing is sent."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown --trace-format {fmt!r}; known: {', '.join(FORMATS)}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read trace {path}: {e}") from e
    out: list[TraceRequest] = []
    for n, line in enumerate(lines, 1):
        if limit is not None and len(out) >= limit:
            break
        if not line.strip():
            continue
        where = f"{path}: line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"{where} is not valid JSON ({e.msg}, column {e.colno})") from e
        if not isinstance(obj, dict):
            raise UsageError(f"{where}: each line must be a JSON object (a Mooncake trace record)")
        ts = obj.get("timestamp")
        if not isinstance(ts, int | float) or isinstance(ts, bool) or ts < 0 or not math.isfinite(ts):
            raise UsageError(f"{where}: `timestamp` must be milliseconds >= 0, not {ts!r}")
        hashes = obj.get("hash_ids", [])
        if not isinstance(hashes, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) for h in hashes
        ):
            raise UsageError(f"{where}: `hash_ids` must be a list of whole numbers")
        out.append(
            TraceRequest(
                float(ts),
                _field(obj, "input_length", where, minimum=1),
                _field(obj, "output_length", where, minimum=1),
                tuple(hashes),
                n,
            )
        )
    if not out:
        raise UsageError(f"{path}: no requests in the trace")
    out.sort(key=lambda r: (r.timestamp_ms, r.line))  # stable: equal timestamps keep the file's order
    return Trace(str(path), fmt, MOONCAKE_BLOCK_TOKENS, tuple(out))


def scaled(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def suggest_length_scale(trace: Trace, room_tokens: int) -> float:
    """A --length-scale (two significant digits, rounded down) that fits the longest prompt in `room`."""
    longest = max(r.input_tokens for r in trace.requests)
    raw = room_tokens / longest
    if raw >= 1:
        return 1.0
    digits = -math.floor(math.log10(raw)) + 1
    return float(math.floor(raw * 10**digits) / 10**digits)


@dataclass(frozen=True)
class Blocks:
    """Builds a trace request's prompt text: its hash ids as equal blocks of one-token words."""

    vocabulary: tuple[str, ...]
    block_tokens: int  # after --length-scale
    salt: str

    def block(self, hash_id: int) -> list[str]:
        rng = random.Random(f"{self.salt}:{hash_id}")
        return rng.choices(self.vocabulary, k=self.block_tokens)

    def words(self, req: TraceRequest, input_tokens: int, index: int) -> list[str]:
        """`input_tokens` words: the blocks of its hash ids, then words of its own past them."""
        out: list[str] = []
        for h in req.hash_ids:
            if len(out) >= input_tokens:
                break
            out += self.block(h)
        k = 0
        while len(out) < input_tokens:  # a trace line with fewer ids than its length: unique tokens
            out += self.block(-1 - index * 1_000_003 - k)
            k += 1
        return out[:input_tokens]

    @staticmethod
    def text(words: Sequence[str]) -> str:
        return "".join(f" {w}" for w in words)


def _served_blocks(keys: Sequence[int], seen: set[int]) -> int:
    """How many leading blocks an unlimited cache holding `seen` serves; then it holds these too."""
    leading = 0
    for key in keys:
        if key not in seen:
            break
        leading += 1
    seen.update(keys)
    return leading


def _chain(blocks: Iterable[Sequence[int]]) -> list[int]:
    """Each block's key names every token up to its end, as vLLM's block hashes do."""
    keys, key = [], 0
    for block in blocks:
        key = hash((key, tuple(block)))
        keys.append(key)
    return keys


def trace_hit_bound(trace: Trace) -> tuple[int, int]:
    """(hit tokens, prompt tokens) an unlimited cache of the trace's own blocks serves, in its order."""
    seen: set[int] = set()
    hits = total = 0
    for r in trace.requests:
        leading = _served_blocks(_chain((h,) for h in r.hash_ids), seen)
        hits += cacheable_tokens(r.input_tokens, leading * trace.block_tokens, trace.block_tokens)
        total += r.input_tokens
    return hits, total


def ids_hit_bound(prompts: Sequence[Sequence[int]], block_tokens: int) -> list[int]:
    """Per prompt, in send order, the tokens an unlimited cache of `block_tokens` blocks serves it."""
    seen: set[int] = set()
    out = []
    for ids in prompts:
        blocks = (ids[end - block_tokens : end] for end in range(block_tokens, len(ids) + 1, block_tokens))
        leading = _served_blocks(_chain(blocks), seen)
        out.append(cacheable_tokens(len(ids), leading * block_tokens, block_tokens))
    return out
