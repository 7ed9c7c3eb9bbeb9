"""Read a recipe file (TOML), validated at the boundary by pydantic.

engine = "vllm"                      # optional
model = "RedHatAI/gemma-4-26B-A4B-it-FP8-Dynamic"
served_name = "gemma4"               # optional
flags = ["--max-model-len", "32768", "--kv-cache-dtype", "fp8"]
host = "127.0.0.1"                   # optional
port = 8000                          # optional
image = "vllm/vllm-openai:v0.32.0"   # optional, for the container renderings
api_key_env = "MY_VLLM_KEY"          # optional: the NAME of a variable, never a key
[env]
VLLM_CACHE_ROOT = "/cache/vllm"
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dyno.errors import UsageError
from dyno.recipe.model import ENGINES, Recipe


class RecipeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    engine: str = "vllm"

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        if v not in ENGINES:
            raise ValueError(f"engine {v!r} is not one dyno can launch or lint; known: {', '.join(ENGINES)}")
        return v

    model: str = Field(min_length=1)
    served_name: str | None = None
    flags: list[str] = []
    env: dict[str, str] = {}
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    image: str | None = None
    api_key_env: str | None = None
    description: str = ""  # a profile's one line; a recipe file may carry one too

    def to_recipe(self) -> Recipe:
        return Recipe(
            model=self.model,
            served_name=self.served_name,
            engine=self.engine,
            flags=tuple(self.flags),
            env=tuple(self.env.items()),
            host=self.host,
            port=self.port,
            image=self.image,
            api_key_env=self.api_key_env,
        )


def recipe_file_from_toml(text: str, *, where: str = "recipe", what: str = "a valid recipe") -> RecipeFile:
    """A recipe (or profile: one format) file, validated; a UsageError that names what is wrong."""
    try:
        return RecipeFile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{where} is not valid TOML: {e}") from e
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or 'file'}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        )
        raise UsageError(f"{where} is not {what}: {problems}") from e


def recipe_from_toml(text: str, *, where: str = "recipe") -> Recipe:
    return recipe_file_from_toml(text, where=where).to_recipe()


def load_recipe(path: Path) -> Recipe:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read recipe {path}: {e.strerror or e}") from e
    return recipe_from_toml(text, where=str(path))


def _toml_str(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest as is."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def recipe_to_toml(recipe: Recipe, description: str = "") -> str:
    """The TOML form of a recipe (which is also a profile's: DYNO_HOME/profiles/NAME.toml)."""
    lines = [f"description = {_toml_str(description)}"] if description else []
    lines += [f"engine = {_toml_str(recipe.engine)}", f"model = {_toml_str(recipe.model)}"]
    if recipe.served_name:
        lines.append(f"served_name = {_toml_str(recipe.served_name)}")
    lines.append("flags = [" + ", ".join(_toml_str(f) for f in recipe.flags) + "]")
    lines.append(f"host = {_toml_str(recipe.host)}")
    if recipe.port is not None:
        lines.append(f"port = {recipe.port}")
    if recipe.image:
        lines.append(f"image = {_toml_str(recipe.image)}")
    if recipe.api_key_env:
        lines.append(f"api_key_env = {_toml_str(recipe.api_key_env)}")
    if recipe.env:
        lines.append("[env]")
        lines += [f"{_toml_str(k)} = {_toml_str(v)}" for k, v in recipe.env_dict.items()]
    return "\n".join(lines) + "\n"
