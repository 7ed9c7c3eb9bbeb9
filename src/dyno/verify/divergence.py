"""Where two greedy outputs part ways, and what each side said from there on.

Positions are in characters (exact) and in whitespace-separated words (a
tokenizer-free stand-in for "token-ish" position: the two endpoints may not
share a tokenizer, and words are what a reader counts).
"""

from __future__ import annotations

from dataclasses import dataclass

CONTEXT_CHARS = 40
TAIL_CHARS = 80


@dataclass(frozen=True)
class Divergence:
    char_index: int  # first differing character (0-based); the shorter length when one is a prefix
    word_index: int  # 0-based index of the whitespace-separated word holding that character
    common_context: str  # up to CONTEXT_CHARS of shared text just before the divergence
    candidate_tail: str  # up to TAIL_CHARS of each side from the divergence on
    baseline_tail: str
    candidate_chars: int  # full output lengths, so "one side stopped early" is visible
    baseline_chars: int


def first_divergence(
    candidate: str, baseline: str, *, context_chars: int = CONTEXT_CHARS, tail_chars: int = TAIL_CHARS
) -> Divergence | None:
    """None when the texts are identical."""
    if candidate == baseline:
        return None
    limit = min(len(candidate), len(baseline))
    i = next((k for k in range(limit) if candidate[k] != baseline[k]), limit)
    prefix = candidate[:i]
    words_before = len(prefix.split())
    # Divergence inside a word that started in the common prefix belongs to that word.
    word_index = words_before - 1 if prefix and not prefix[-1].isspace() else words_before
    return Divergence(
        char_index=i,
        word_index=max(word_index, 0),
        common_context=prefix[-context_chars:] if context_chars > 0 else "",
        candidate_tail=candidate[i : i + tail_chars],
        baseline_tail=baseline[i : i + tail_chars],
        candidate_chars=len(candidate),
        baseline_chars=len(baseline),
    )
