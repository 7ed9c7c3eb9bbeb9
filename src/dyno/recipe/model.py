"""The Recipe: everything needed to start one engine, as a value.

Flags are kept as the tokens a user would type (`("--max-model-len", "2048")`),
so a recipe round-trips to and from a pasted command line unchanged.
API keys are never part of a recipe: only the *name* of the environment
variable that holds one.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

ENGINES = ("vllm", "llama.cpp")  # the engines dyno renders commands for
# How each engine is named to people; Ollama is measured and checked, never launched.
ENGINE_NAMES = {"vllm": "vLLM", "llama.cpp": "llama.cpp", "ollama": "Ollama"}


def engine_name(engine: str | None) -> str:
    return ENGINE_NAMES.get(engine or "", engine or "engine")


def flag_value(flags: Sequence[str], name: str) -> str | bool | None:
    """The value of `--name` in a flag list (True for a bare switch, None when absent; the last one
    wins, as in vLLM's and llama-server's argument parsers)."""
    value: str | bool | None = None
    for i, tok in enumerate(flags):
        if tok == name:
            nxt = flags[i + 1] if i + 1 < len(flags) else None
            value = nxt if nxt is not None and not nxt.startswith("--") else True
        elif tok.startswith(name + "="):
            value = tok.split("=", 1)[1]
    return value


@dataclass(frozen=True)
class Recipe:
    model: str  # a local folder or a hub id
    served_name: str | None = None
    engine: str = "vllm"
    flags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    host: str = "127.0.0.1"
    port: int | None = None
    image: str | None = None
    api_key_env: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def with_port(self, port: int) -> Recipe:
        return replace(self, port=port)

    def with_flags(self, *flags: str) -> Recipe:
        return replace(self, flags=(*self.flags, *flags))

    def flag(self, name: str) -> str | bool | None:
        """The value of `--name` (True for a bare switch, None when absent; last one wins)."""
        return flag_value(self.flags, name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "model": self.model,
            "served_name": self.served_name,
            "flags": list(self.flags),
            "env": dict(self.env),
            "host": self.host,
            "port": self.port,
            "image": self.image,
            "api_key_env": self.api_key_env,
        }


def to_argv(recipe: Recipe) -> list[str]:
    """The engine's command line for a recipe (argv[0] is the bare executable name)."""
    if recipe.engine == "llama.cpp":
        argv = ["llama-server", "-m", recipe.model, "--host", recipe.host]
        if recipe.port is not None:
            argv += ["--port", str(recipe.port)]
        if recipe.served_name:
            argv += ["-a", recipe.served_name]
        return argv + list(recipe.flags)
    if recipe.engine != "vllm":
        raise ValueError(f"no argv renderer for engine {recipe.engine!r}")
    argv = ["vllm", "serve", recipe.model, "--host", recipe.host]
    if recipe.port is not None:
        argv += ["--port", str(recipe.port)]
    if recipe.served_name:
        argv += ["--served-model-name", recipe.served_name]
    argv += list(recipe.flags)
    return argv


def to_shell(recipe: Recipe) -> str:
    """One line a user can paste: env assignments then the quoted argv."""
    env = [f"{k}={shlex.quote(v)}" for k, v in recipe.env]
    return " ".join([*env, shlex.join(to_argv(recipe))])
