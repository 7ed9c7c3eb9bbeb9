"""Sessions: N users, each a conversation whose history grows with the server's own replies.

What a chat or coding-agent user does, and what GuideLLM's `turns`, AIPerf's user-centric rate
and `vllm bench serve`'s multi-turn mode measure: turn k of a session sends the system prompt,
every earlier user turn and every earlier reply (verbatim, as the server gave it), then the new
user turn. Two ways to pace a user:
- think time: the next turn leaves `think_time_s` after the reply ended (a person reading);
- a user-centric rate: `rate` turns per second over all users, so each user's turns are
  `sessions / rate` seconds apart, the users staggered evenly across one gap, and a long run is
  in steady state from its first second. A turn whose reply is not back by its slot leaves
  when the reply is, and its dispatch delay says how late.

The cache bound is what a prefix cache with unlimited room could serve each turn, from the
token ids the server's tokenizer gives its whole conversation: the longest prefix it shares
with a request whose first token came before its own (a cache can serve a prompt only from a
prefill that finished before its own started, and the server's queue may hold a request sent
earlier until then: vLLM served one of two users' simultaneous first turns their shared system
prompt), extended by that request's reply when the turn carries it whole and that reply ended
before this turn's first token (vLLM caches the blocks it generated too; "up to", since a reply
re-tokenized in the history may split differently), in whole blocks, never the prompt's last
token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dyno.errors import UsageError
from dyno.workloads.prefixes import common_prefix
from dyno.workloads.shapes import Lengths

TEMPLATE_MARGIN_TOKENS = 32  # a turn's chat-template tokens, when deciding whether the next fits


@dataclass(frozen=True)
class SessionSpec:
    """How many users, how long their conversations, and how they pace their turns."""

    sessions: int
    turns: Lengths | None = None  # None with a dataset: each conversation's own user turns
    think_time_s: float = 0.0
    rate: float | None = None  # turns per second over all users (user-centric)

    def __post_init__(self) -> None:
        if self.sessions < 1:
            raise UsageError("--sessions takes a number of users >= 1")
        if self.think_time_s < 0:
            raise UsageError("--think-time takes seconds >= 0")
        if self.rate is not None and self.rate <= 0:
            raise UsageError("--rate with --sessions takes turns per second > 0")
        if self.rate is not None and self.think_time_s:
            raise UsageError(
                "--rate with --sessions spaces each user's turns sessions/rate seconds apart; "
                "--think-time spaces them after each reply: give one of them"
            )

    @property
    def gap_s(self) -> float | None:
        """A user's turn-to-turn interval under a user-centric rate."""
        return None if self.rate is None else self.sessions / self.rate

    def slot_s(self, session: int, turn: int) -> float | None:
        """When (from the load's start) a user-centric rate means this turn to leave."""
        gap = self.gap_s
        return None if gap is None else gap * (session / self.sessions + turn)

    def spec(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "turns": self.turns.spec() if self.turns else None,
            "think_time_s": self.think_time_s,
            "rate": self.rate,
        }


def fits(prompt_tokens: int, output_tokens: int, next_turn_tokens: int, budget: int, context: int) -> bool:
    """Whether the next turn (the history so far, the last reply, its own text) and its reply fit."""
    return prompt_tokens + output_tokens + next_turn_tokens + TEMPLATE_MARGIN_TOKENS + budget <= context


@dataclass(frozen=True)
class Sent:
    """One request of a session load as the bound needs it: its prompt's ids and when things happened."""

    ids: list[int]
    output_tokens: int
    t_prefilled_ns: int | None  # first content seen: its prompt's blocks were in the cache by then
    t_end_ns: int | None


def shared_tokens(requests: Sequence[Sent]) -> list[int]:
    """Per request, the most prompt tokens it shares with what the cache could hold at its prefill."""
    out = []
    for r in requests:
        best = 0
        for e in requests:
            # Only a prefill that finished before this one's could have served it (itself excluded).
            if r.t_prefilled_ns is None or e.t_prefilled_ns is None or e.t_prefilled_ns >= r.t_prefilled_ns:
                continue
            n = common_prefix(r.ids, e.ids)
            if n == len(e.ids) and e.t_end_ns is not None and e.t_end_ns <= r.t_prefilled_ns:
                n = min(len(r.ids), n + e.output_tokens)  # its reply's blocks, when this turn carries it
            best = max(best, n)
        out.append(best)
    return out
