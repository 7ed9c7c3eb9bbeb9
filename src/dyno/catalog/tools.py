"""Which tool-call parser a model family needs, for the fix a refused tool call gets."""

from __future__ import annotations


def suggest_tool_parser(model: str) -> str:
    m = model.lower()
    for key, parser in (
        ("gemma-4", "gemma4"),
        ("gemma4", "gemma4"),
        ("qwen", "hermes"),
        ("hermes", "hermes"),
        ("smollm", "hermes"),
        ("llama-3", "llama3_json"),
        ("llama3", "llama3_json"),
        ("mistral", "mistral"),
    ):
        if key in m:
            return parser
    return "<the parser for your model family, e.g. hermes>"
