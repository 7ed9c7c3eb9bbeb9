"""Lint findings, the facts rules look at, and the rule registry.

A rule is one small function `(LintContext) -> list[Finding]`, registered
with `@rule("id", "why it exists")`. Rules never do I/O: everything they need
(the recipe, the hardware, the model folder's files, the engine version,
other runtimes seen on this machine) is gathered first into a LintContext.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dyno.catalog.types import Drafter, Hardware, Model, QuantFormat
from dyno.recipe.model import Recipe
from dyno.recipe.parse import DockerFacts

Severity = Literal["error", "warn", "info"]
SEVERITY_ORDER: dict[Severity, int] = {"error": 0, "warn": 1, "info": 2}
# config.json keys that count routed experts, across the MoE families vLLM serves
_EXPERT_COUNT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "severity": self.severity, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class ModelFolder:
    """The small text files of a local model folder (config, tokenizer config, chat template)."""

    path: Path
    config: dict[str, Any]
    tokenizer_config: dict[str, Any]
    chat_template: str | None  # from chat_template.jinja or tokenizer_config.json

    @property
    def text_config(self) -> dict[str, Any]:
        tc = self.config.get("text_config")
        return tc if isinstance(tc, dict) else self.config

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type") or "")

    @property
    def family(self) -> str:
        """A family name comparable with the catalog's (`gemma4`, `gemma3`, `llama`, ...)."""
        mt = self.model_type
        for prefix, fam in (("gemma4", "gemma4"), ("gemma3", "gemma3"), ("qwen3_moe", "qwen3-moe")):
            if mt.startswith(prefix):
                return fam
        return mt

    @property
    def vocab_size(self) -> int | None:
        v = self.text_config.get("vocab_size", self.config.get("vocab_size"))
        return v if isinstance(v, int) else None

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    @property
    def multimodal(self) -> bool:
        return any(k in self.config for k in ("vision_config", "audio_config"))

    @property
    def tool_capable(self) -> bool:
        """The chat template renders tool definitions (so clients will send tools)."""
        return bool(self.chat_template) and "tools" in (self.chat_template or "")

    @property
    def quantization(self) -> dict[str, Any]:
        q = self.config.get("quantization_config")
        return q if isinstance(q, dict) else {}

    @property
    def is_moe(self) -> bool:
        """config.json declares routed experts (Gemma 4 `enable_moe_block`, Qwen3/Mixtral/DeepSeek counts)."""
        for cfg in (self.text_config, self.config):
            if cfg.get("enable_moe_block") is False:
                return False
            if any(isinstance(cfg.get(k), int) and cfg[k] > 1 for k in _EXPERT_COUNT_KEYS):
                return True
        return False


@dataclass(frozen=True)
class SpecConfig:
    method: str | None
    model: str | None
    num_speculative_tokens: int | None
    raw: str


@dataclass(frozen=True)
class LintContext:
    recipe: Recipe
    hardware: Hardware | None = None
    folder: ModelFolder | None = None
    engine_version: str | None = None
    docker: DockerFacts | None = None
    model: Model | None = None  # the catalog entry the recipe's model resolves to
    quant: QuantFormat | None = None  # the weight format, as detected
    quant_evidence: str | None = None
    drafter: Drafter | None = None  # the catalog drafter the speculative config names
    drafter_model: Model | None = None  # ... or the catalog model it names (draft_model)
    spec: SpecConfig | None = None
    spec_error: str | None = None  # --speculative-config is not valid JSON
    other_runtimes: tuple[str, ...] = ()  # other GPU runtimes seen running on this machine
    moe_config_dir: Path | None = None  # vLLM's shipped fused-MoE tuning files, when known
    engine_errors: tuple[str, ...] = ()  # what vLLM's own argument parser rejected
    notes: tuple[str, ...] = field(default=())

    def flag(self, name: str) -> str | bool | None:
        return self.recipe.flag(name)

    def has_flag(self, name: str) -> bool:
        return self.recipe.flag(name) is not None

    def env_names(self) -> set[str]:
        names = {k for k, _ in self.recipe.env}
        if self.docker is not None:
            names |= set(self.docker.env_names)
        return names

    @property
    def is_instruct(self) -> bool | None:
        if self.folder is not None:
            return self.folder.has_chat_template
        return None if self.model is None else self.model.instruct

    @property
    def is_multimodal(self) -> bool | None:
        if self.model is not None:
            return self.model.multimodal
        return None if self.folder is None else self.folder.multimodal

    @property
    def is_moe(self) -> bool | None:
        """Routed experts or not: the catalog's answer, else the model folder's; None when neither knows."""
        if self.model is not None:
            return self.model.is_moe
        return None if self.folder is None else self.folder.is_moe

    @property
    def family(self) -> str | None:
        if self.model is not None:
            return self.model.family
        return None if self.folder is None else self.folder.family

    def spec_json(self) -> dict[str, Any] | None:
        if self.spec is None:
            return None
        try:
            v = json.loads(self.spec.raw)
        except json.JSONDecodeError:
            return None
        return v if isinstance(v, dict) else None


RuleFn = Callable[[LintContext], list[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    why: str
    fn: RuleFn
    engines: tuple[str, ...]  # the engines whose recipes it reads: flags differ from engine to engine


RULES: dict[str, Rule] = {}


def rule(rule_id: str, why: str, *, engines: tuple[str, ...] = ("vllm",)) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        if rule_id in RULES:
            raise ValueError(f"duplicate lint rule id {rule_id!r}")
        RULES[rule_id] = Rule(rule_id, why, fn, engines)
        return fn

    return register
