"""What a scenario stores as its config: its own fields, as JSON holds them, and what it adds.

Stored runs are compared by these keys and values, so a field's name is its key.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


NOT_CONFIG = {"config": False}  # a field's metadata: how long to measure, not what is measured


def fields_config(scenario: DataclassInstance, **extra: Any) -> dict[str, Any]:
    """The scenario's fields in their order (tuples as lists), then `extra`. A field marked
    `metadata={"config": False}` (how long to repeat, not what is measured) is left out, so runs
    that differ only in it still compare like for like."""
    out: dict[str, Any] = {}
    for f in fields(scenario):
        if not f.metadata.get("config", True):
            continue
        value = getattr(scenario, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out | extra


class FieldsConfig:
    """A scenario whose stored config is its fields, nothing added (most of them)."""

    def config(self) -> dict[str, Any]:
        return fields_config(self)  # type: ignore[arg-type]  # every subclass is a dataclass
