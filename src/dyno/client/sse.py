"""Server-sent events, parsed leniently: a bad line is reported, never raised.

OpenAI-compatible servers stream `data: {json}` events separated by blank
lines and end with `data: [DONE]`. Real streams break in small ways (a proxy
drops the `data:` prefix, a JSON object is cut in half when the server dies);
the parser turns each of those into a `Malformed` event so the caller can count
it against the request instead of crashing the run.
"""

from __future__ import annotations

import json
import re
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
        # A JSON object with its `data:` prefix lost has colons too, so it would read as an
        # unknown field named '{"id"'; name the likely cause instead.
        if not sep or line.lstrip().startswith(("{", "[")):
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
        except (ValueError, RecursionError) as e:
            # json.loads raises these too: an integer of more than 4300 digits, or nesting
            # deeper than the recursion limit. The parser must never raise on server input.
            yield Malformed(text[:200], f"bad JSON: {type(e).__name__}")
            return
        if not isinstance(obj, dict):
            yield Malformed(text[:200], "event data is not a JSON object")
            return
        yield Data(obj)


_EOL = re.compile(rb"\r\n|\r|\n")


class LineTooLong(Exception):
    """A line grew past the splitter's cap without ending: not an SSE stream dyno can use."""


class LineSplitter:
    """Bytes in, lines out, ending a line only at CR, LF or CRLF, as the SSE spec says.

    Not httpx's `aiter_lines`: it splits like `str.splitlines`, also at U+2028, U+2029
    and NEL (U+0085), which JSON encoders (pydantic's, so vLLM's) leave unescaped inside
    strings; a generated token holding one would cut its event in two malformed halves.
    Splitting on ASCII bytes also never cuts a UTF-8 sequence.
    """

    def __init__(self, max_line_bytes: int = 4 * 1024 * 1024) -> None:
        self._buf = b""
        self._skip_lf = False  # the last feed ended in CR; an LF opening the next one ends nothing
        self.max_line_bytes = max_line_bytes

    def feed(self, data: bytes) -> list[str]:
        if not data:
            return []
        if self._skip_lf and data[:1] == b"\n":
            data = data[1:]
        self._skip_lf = False
        buf = self._buf + data
        lines: list[str] = []
        start = 0
        for m in _EOL.finditer(buf):
            lines.append(buf[start : m.start()].decode("utf-8", "replace"))
            start = m.end()
        self._buf = buf[start:]
        if len(self._buf) > self.max_line_bytes:
            raise LineTooLong(f"an SSE line passed {self.max_line_bytes} bytes without ending")
        if buf.endswith(b"\r"):
            self._skip_lf = True
        return lines

    def close(self) -> list[str]:
        rest, self._buf = self._buf, b""
        return [rest.decode("utf-8", "replace")] if rest else []


def parse_lines(lines: Iterable[str]) -> list[Event]:
    p = SSEParser()
    out: list[Event] = []
    for line in lines:
        out.extend(p.feed(line))
    out.extend(p.close())
    return out
