"""Secrets never stored or printed: redact by name, keep the name.

A flag or an environment variable whose name says it holds a secret (KEY,
TOKEN, SECRET, PASSWORD, and vLLM's `--api-key`) keeps its name and loses its
value, so provenance still says a key was set without saying which. Every
place dyno writes a command or an environment (engine log header, state file,
stored launch config, reports, lint output) goes through here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from dyno.recipe.model import Recipe, to_argv

REDACTED = "<redacted>"
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD")


def secret_name(name: str) -> bool:
    """Does a flag or variable called `name` hold a secret?

    By word, not by substring: `HF_TOKEN`, `--api-key`, `OPENAI_APIKEY` and
    `DB_PASSWORD` do; `--max-num-batched-tokens` and `--tokenizer` do not (their
    values are provenance a comparison needs).
    """
    words = re.split(r"[-_.]+", name.lstrip("-").upper())
    return any(w.endswith(_SECRET_WORDS) for w in words if w)


def redact_argv(argv: Iterable[str]) -> list[str]:
    """`--api-key X` -> `--api-key <redacted>`; also `--hf-token=X` and `HF_TOKEN=x` words."""
    out: list[str] = []
    hide_next = False
    for tok in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _value = tok.partition("=")
        if tok.startswith("-") and secret_name(name):
            if eq:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(tok)
                hide_next = True  # its value is the next word
            continue
        if (
            eq
            and not tok.startswith("-")
            and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
            and secret_name(name)
        ):
            out.append(f"{name}={REDACTED}")  # a `NAME=value` word (docker -e, env prefixes)
            continue
        out.append(tok)
    return out


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if secret_name(k) else v) for k, v in env.items()}


def redact_recipe(d: dict[str, Any]) -> dict[str, Any]:
    """A recipe's dict form (Recipe.to_dict) with secret flags and env values hidden."""
    out = dict(d)
    if isinstance(out.get("flags"), list):
        out["flags"] = redact_argv(out["flags"])
    if isinstance(out.get("env"), dict):
        out["env"] = redact_env(out["env"])
    return out


def redact_shell(recipe: Recipe) -> str:
    """The one-line shell form of a recipe (env assignments, then argv), secrets hidden."""
    env = [f"{k}={shlex.quote(v)}" for k, v in redact_env(dict(recipe.env)).items()]
    return " ".join([*env, shlex.join(redact_argv(to_argv(recipe)))])
