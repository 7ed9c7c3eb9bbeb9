"""Is a recorded tool call valid: the right function, parsable arguments, schema-valid?

Judged on the first tool call the server parsed (what an agent loop would run
first); a reply with none is invalid, whatever its text says, because a
client only acts on parsed calls. Each verdict carries one reason:

    ok                    right function, arguments parse, schema-valid
    request_failed        the request itself failed (HTTP error, timeout, ...)
    no_tool_call          the server returned no parsed tool call
    wrong_function        the first call names another function
    unparsable_arguments  the arguments are not a JSON object
    schema_invalid        the arguments break the function's JSON schema
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

# jsonschema ships no type information and its stubs are not a dependency; `unused-ignore`
# keeps this line quiet if a mypy override or types-jsonschema arrives later.
import jsonschema  # type: ignore[import-untyped, unused-ignore]

Reason = Literal[
    "ok", "request_failed", "no_tool_call", "wrong_function", "unparsable_arguments", "schema_invalid"
]
REASONS: tuple[Reason, ...] = (
    "ok",
    "request_failed",
    "no_tool_call",
    "wrong_function",
    "unparsable_arguments",
    "schema_invalid",
)


@dataclass(frozen=True)
class ToolVerdict:
    reason: Reason
    detail: str  # what was wrong, for the report; "" when ok
    function: str | None  # the first call's function name, if any
    arguments: str | None  # its raw arguments text, if any

    @property
    def valid(self) -> bool:
        return self.reason == "ok"


def check_tool_call(
    tool_calls: Sequence[dict[str, Any]],
    *,
    expected_function: str,
    schema: dict[str, Any],
    error: str | None = None,
    content: str = "",
) -> ToolVerdict:
    """Judge one response: `tool_calls` as the client accumulated them ({name, arguments, id})."""
    if error is not None:
        return ToolVerdict("request_failed", error, None, None)
    if not tool_calls:
        said = f"; the reply said: {content.strip()[:120]!r}" if content.strip() else ""
        return ToolVerdict("no_tool_call", f"no parsed tool call{said}", None, None)
    first = tool_calls[0]
    name = str(first.get("name") or "")
    raw = first.get("arguments")
    raw_text = raw if isinstance(raw, str) else json.dumps(raw)
    if name != expected_function:
        return ToolVerdict(
            "wrong_function", f"called {name!r}, expected {expected_function!r}", name, raw_text
        )
    try:
        args = json.loads(raw_text) if isinstance(raw, str) else raw
    except ValueError as e:
        return ToolVerdict("unparsable_arguments", f"not JSON: {e}", name, raw_text)
    if not isinstance(args, dict):
        return ToolVerdict(
            "unparsable_arguments", f"a JSON {type(args).__name__}, not an object", name, raw_text
        )
    validator_cls = jsonschema.validators.validator_for(schema)
    problem = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(args))
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path)
        return ToolVerdict(
            "schema_invalid", f"{where + ': ' if where else ''}{problem.message}", name, raw_text
        )
    return ToolVerdict("ok", "", name, raw_text)


def judge_tool_call(tool_calls: Sequence[dict[str, Any]], tool: dict[str, Any], **kw: Any) -> ToolVerdict:
    """`check_tool_call` against an OpenAI tool definition ({"type": "function", "function": {...}})."""
    fn = tool["function"]
    return check_tool_call(tool_calls, expected_function=fn["name"], schema=fn.get("parameters") or {}, **kw)


def judge_offered_call(
    tool_calls: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], **kw: Any
) -> ToolVerdict:
    """The first call judged against the offered tool it names: an agent offers several, and any of
    them is a right function; a name none of them has is `wrong_function`."""
    if tool_calls and tools:
        name = str(tool_calls[0].get("name") or "")
        named = next((t for t in tools if t["function"]["name"] == name), None)
        if named is None:
            raw = tool_calls[0].get("arguments")
            offered = ", ".join(repr(t["function"]["name"]) for t in tools)
            return ToolVerdict(
                "wrong_function",
                f"called {name!r}, not an offered tool ({offered})",
                name,
                raw if isinstance(raw, str) else json.dumps(raw),
            )
        return judge_tool_call(tool_calls, named, **kw)
    return check_tool_call(tool_calls, expected_function="", schema={}, **kw)
