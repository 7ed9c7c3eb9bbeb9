"""Server-sent events, parsed leniently: a bad line is reported, never raised.

OpenAI-compatible servers stream `data: {json}` events separated by blank
lines and end with `data: [DONE]`. Real streams break in small ways (a proxy
drops the `data:` prefix, a JSON object is cut in half when the server dies);
the parser turns each of those into a `Malformed` event so the caller can count
it against the request instead of crashing the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Data:
    payload: dict[str, Any]


@dataclass(frozen=True)
class Done:
    pass


@dataclass(frozen=True)
class Malformed:
    raw: str
    reason: str


Event = Data | Done | Malformed


class SSEParser:
    """Feed it lines (without their newline); it yields events as they complete."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> Iterator[Event]:
        line = line.rstrip("\r\n")
        if line == "":
            yield from self._dispatch()
            return
        if line.startswith(":"):
            return  # comment / keep-alive
        field, sep, value = line.partition(":")
        if not sep:
            yield Malformed(line[:200], "line without a field name (missing 'data:' prefix?)")
            return
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field in ("event", "id", "retry"):
            return
        else:
            yield Malformed(line[:200], f"unknown SSE field {field!r}")

    def close(self) -> Iterator[Event]:
        """End of stream: a pending event without its blank line still counts."""
        yield from self._dispatch()

    def _dispatch(self) -> Iterator[Event]:
        if not self._data:
            return
        text = "\n".join(self._data)
        self._data = []
        if text.strip() == "[DONE]":
            yield Done()
            return
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            yield Malformed(text[:200], f"bad JSON: {e.msg}")
            return
        if not isinstance(obj, dict):
            yield Malformed(text[:200], "event data is not a JSON object")
            return
        yield Data(obj)


def parse_lines(lines: Iterable[str]) -> list[Event]:
    p = SSEParser()
    out: list[Event] = []
    for line in lines:
        out.extend(p.feed(line))
    out.extend(p.close())
    return out
