"""A user's own prompts: JSONL (`prompt` or `messages` per line) or ShareGPT-style JSON.

JSONL, one object per line (blank lines and `#` comments skipped):

    {"prompt": "Summarise ..."}                                  -> /v1/completions
    {"messages": [{"role": "user", "content": "..."}]}           -> /v1/chat/completions
    {"prompt": "...", "max_tokens": 200}                         -> that output length

ShareGPT (what `vllm bench serve --dataset-name sharegpt` reads): a JSON array
of {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]};
each conversation's first human turn is the prompt, and the first reply's
length (characters / 4) becomes its output budget, as that tool does it.

For sessions (`--sessions`), every user turn of a conversation is kept, each
with the length of the reply that followed it as its budget; the recorded
replies themselves are never sent: each turn carries the server's live ones.

A file that does not parse is refused with the line (JSONL) or item (JSON)
that broke it; nothing is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dyno.errors import UsageError

ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}
CHARS_PER_TOKEN = 4  # ShareGPT replies are text; their token budget is an estimate, labelled so


@dataclass(frozen=True)
class DatasetItem:
    messages: tuple[dict[str, Any], ...] = ()  # chat form
    prompt: str | None = None  # completions form
    max_tokens: int | None = None  # the item's own output budget, when it has one
    # The conversation as a session replays it: its system prompt and each user turn with the
    # budget of the reply that followed it (recorded assistant turns are replaced by live replies).
    system: str | None = None
    turns: tuple[tuple[str, int | None], ...] = ()


def _conversation(
    turns: list[tuple[str, str]], default_budget: int | None
) -> tuple[str | None, tuple[tuple[str, int | None], ...]]:
    """(system prompt, user turns with their replies' budgets) from (role, text) pairs."""
    system = next((text for role, text in turns if role == "system"), None)
    out: list[tuple[str, int | None]] = []
    for k, (role, text) in enumerate(turns):
        if role != "user":
            continue
        reply = next((t for r, t in turns[k + 1 : k + 2] if r == "assistant"), None)
        out.append((text, max(1, len(reply) // CHARS_PER_TOKEN) if reply else default_budget))
    return system, tuple(out)


@dataclass(frozen=True)
class Dataset:
    path: str
    format: str  # jsonl | sharegpt
    items: tuple[DatasetItem, ...]

    def spec(self) -> dict[str, Any]:
        """How a run's config names it (so two runs of one dataset compare as one workload)."""
        return {"path": self.path, "format": self.format, "items": len(self.items)}


def _messages(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw, list) or not raw:
        raise UsageError(f"{where}: `messages` must be a non-empty list of {{role, content}} objects")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise UsageError(
                f"{where}: messages[{i}] must be an object with role ({', '.join(ROLES)}) and string content"
            )
        out.append({"role": m["role"], "content": m["content"]})
    return tuple(out)


def _jsonl_item(obj: Any, where: str) -> DatasetItem:
    if not isinstance(obj, dict):
        raise UsageError(f"{where}: each line must be a JSON object with `prompt` or `messages`")
    budget = obj.get("max_tokens", obj.get("output_tokens"))
    if budget is not None and (not isinstance(budget, int) or budget < 1):
        raise UsageError(f"{where}: max_tokens must be a positive integer, not {budget!r}")
    if "messages" in obj:
        messages = _messages(obj["messages"], where)
        system, turns = _conversation([(m["role"], m["content"]) for m in messages], budget)
        if budget is not None:  # the line's own budget holds for every turn
            turns = tuple((text, budget) for text, _ in turns)
        return DatasetItem(messages=messages, max_tokens=budget, system=system, turns=turns)
    if isinstance(obj.get("prompt"), str) and obj["prompt"]:
        return DatasetItem(prompt=obj["prompt"], max_tokens=budget)
    raise UsageError(f"{where}: needs a non-empty string `prompt` or a `messages` list")


def _sharegpt(doc: Any, path: Path) -> list[DatasetItem]:
    if not isinstance(doc, list):
        raise UsageError(f"{path}: a JSON dataset must be a ShareGPT-style array of {{conversations: [...]}}")
    items = []
    for i, conv in enumerate(doc):
        where = f"{path}: item {i}"
        turns = conv.get("conversations") if isinstance(conv, dict) else None
        if not isinstance(turns, list):
            raise UsageError(f"{where}: needs a `conversations` list")
        human = next((j for j, t in enumerate(turns) if SHAREGPT_ROLES.get(_from(t)) == "user"), None)
        if human is None:
            continue  # a conversation with no human turn has no prompt; vllm bench serve skips these too
        prompt = turns[human].get("value")
        if not isinstance(prompt, str) or not prompt:
            raise UsageError(f"{where}: conversations[{human}] has no string `value`")
        reply = next((t for t in turns[human + 1 :] if SHAREGPT_ROLES.get(_from(t)) == "assistant"), None)
        budget = None
        if reply is not None and isinstance(reply.get("value"), str):
            budget = max(1, len(reply["value"]) // CHARS_PER_TOKEN)
        pairs = [(SHAREGPT_ROLES.get(_from(t), ""), t.get("value")) for t in turns if isinstance(t, dict)]
        system, conv = _conversation([(r, v) for r, v in pairs if isinstance(v, str) and v], None)
        items.append(
            DatasetItem(
                messages=({"role": "user", "content": prompt},), max_tokens=budget, system=system, turns=conv
            )
        )
    return items


def _from(turn: Any) -> str:
    return str(turn.get("from", turn.get("role", ""))) if isinstance(turn, dict) else ""


def load_dataset(path: Path) -> Dataset:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read dataset {path}: {e}") from e
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
        items = _sharegpt(doc, path)
        fmt = "sharegpt"
    else:
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UsageError(f"{path}: line {n} is not valid JSON ({e.msg}, column {e.colno})") from e
            items.append(_jsonl_item(obj, f"{path}: line {n}"))
        fmt = "jsonl"
    if not items:
        raise UsageError(f"{path}: no prompts found")
    return Dataset(str(path), fmt, tuple(items))
