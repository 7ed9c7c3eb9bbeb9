"""Provenance read back from the store, typed: a run's launch, its key properties, a verify side.

The store keeps these as JSON columns; every reader goes through these models
rather than `(run.launch_config or {}).get(...)`, so a field has one name and a
record written without one (a verify side whose launch went missing) is a
typed `None`, visible, not an empty dict that reads as "no flags". Unknown keys
are kept: runs stored by an older dyno still validate.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class RecipeRecord(_Record):
    """The launch recipe dyno recorded (`Recipe.to_dict`, secrets hidden)."""

    engine: str = "vllm"
    model: str = ""
    served_name: str | None = None
    flags: list[str] = []


class LaunchRecord(_Record):
    """How dyno started the engine it measured (`Target.launch_config`); absent for a bare URL."""

    profile: str | None = None
    recipe: RecipeRecord | None = None
    command: list[str] | None = None
    log_facts: dict[str, Any] = {}
    ready_s: float | None = None

    @property
    def flags(self) -> list[str] | None:
        return list(self.recipe.flags) if self.recipe is not None else None


class KeyProperties(_Record):
    """What must match for two results to be compared (llama-bench's idea); the runner adds `workload`."""

    model: str | None = None
    model_revision: str | None = None
    quant: str | None = None
    engine: str | None = None
    engine_version: str | None = None
    flags: list[str] | None = None
    hardware: str | None = None
    workload: dict[str, Any] | None = None


# What a comparison varies (they name a row) and what must be equal for two runs to compare.
CONFIG_KEYS = ("engine", "quant", "flags")
MUST_MATCH = ("model", "model_revision", "hardware")
# The columns a report prints, in order.
KEY_COLUMNS = ("model", "model_revision", "quant", "engine", "engine_version", "flags", "hardware")


class SideRecord(_Record):
    """One side of a verify run (candidate or baseline): where it was, what it served, how it started."""

    ref: str = "?"  # the URL or profile as the user gave it
    url: str | None = None
    profile: str | None = None
    model: str | None = None
    engine: str | None = None
    engine_version: str | None = None
    models: list[dict[str, Any]] = []
    started_by_verify: bool = False
    key_properties: KeyProperties | None = None
    launch: LaunchRecord | None = None  # None: dyno did not start this side

    @property
    def engine_name(self) -> str:
        # verify runs stored before llama-server support name no engine: they were all vLLM
        return self.engine or (self.key_properties.engine if self.key_properties else None) or "vllm"

    def stored(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(server_info entry, launch_config entry) as a verify run stores them."""
        return self.model_dump(exclude={"launch"}, mode="json"), (
            self.launch.model_dump(mode="json", exclude_unset=True) if self.launch else None
        )
