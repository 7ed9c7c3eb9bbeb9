"""Named engine configurations: built-in ones for the embedded models, plus user TOML files.

A user profile is `DYNO_HOME/profiles/NAME.toml`, in the same format as a
recipe file (`dyno lint FILE` reads either; `dyno tune` writes its winner as one):

    description = "my model, eager"   # optional
    engine = "vllm"                   # optional; or "llama.cpp" (model: a GGUF file or a local id)
    model = "smollm2-135m-instruct"   # a local model id, a folder, or a hub id
    served_name = "my-model"          # optional
    flags = ["--enforce-eager", "--max-model-len", "4096"]
    host = "127.0.0.1"                # optional, as are port and api_key_env
    [env]
    VLLM_CPU_OMP_THREADS_BIND = "0-1"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from dyno.engine.adapters import adapter_for
from dyno.engine.models import LOCAL_MODELS
from dyno.errors import UsageError
from dyno.recipe import Recipe, recipe_to_toml
from dyno.recipe.load import recipe_file_from_toml
from dyno.settings import Settings

DEFAULT_PROFILE = "smollm2"

# vLLM on CPU, for the embedded models:
# --enforce-eager: compiled mode takes 2-3 min to start on 2 cores and its
#   cache does not reload on CPU; eager is ready in ~35 s.
# --kv-cache-memory-bytes: without it the CPU worker reserves
#   --gpu-memory-utilization (0.92) of the NUMA node's memory and refuses to
#   start when that much is not free (seen here: node 0 reports 8.5 GiB, 7 free).
#   An explicit size skips that check and the warm-up pass; 1 GiB holds ~46K
#   SmolLM2 tokens, far more than the 2048-token context needs.
# --enable-per-request-metrics: each response carries the engine's own timing of
#   it (queue time, first token), so dyno can report its client overhead.
# --enable-prompt-tokens-details: each usage says how many prompt tokens the prefix
#   cache served (cached_tokens), which sessions report per turn.
CPU_FLAGS = (
    "--enforce-eager",
    "--max-model-len",
    "2048",
    "--kv-cache-memory-bytes",
    "1G",
    "--enable-per-request-metrics",
    "--enable-prompt-tokens-details",
)
# Usage stats would phone home; dyno never asks an engine to.
PRIVATE_ENV = (("VLLM_NO_USAGE_STATS", "1"), ("DO_NOT_TRACK", "1"))
# The embedded models are local folders: the engine and transformers must not
# look for them on a hub (there may be none). Only for local models: a user
# profile that names a hub id must be free to download it.
OFFLINE_ENV = (("HF_HUB_OFFLINE", "1"), *PRIVATE_ENV)


@dataclass(frozen=True)
class Profile:
    name: str
    model: str  # local model id, folder, or hub id
    served_name: str | None
    flags: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    description: str
    source: str  # "built-in" or the TOML path
    engine: str = "vllm"  # one of recipe.ENGINES


TEMPLATES = Path(__file__).parent / "templates"
# SmolLM2's own chat template ignores `tools`; this one renders them the Hermes
# way, so vLLM's `hermes` parser can read the model's calls.
TOOL_FLAGS = (
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    "hermes",
    "--chat-template",
    str(TEMPLATES / "chatml-hermes-tools.jinja"),
)

# llama-server on CPU, for the packaged GGUF as it ships (Q4_1, no conversion):
# -c 8192 -np 4: four slots (four requests decode together; one slot would serialise them),
#   each with 2048 tokens of the 8192-token cache: the same per-request context as the vLLM profile;
# --metrics: llama-server has no /metrics without it, and dyno cross-checks tokens against it;
# --no-ui: a benchmark target does not need the bundled web app.
LLAMA_CPU_FLAGS = ("-c", "8192", "-np", "4", "--metrics", "--no-ui")

BUILTIN: dict[str, Profile] = {
    "smollm2": Profile(
        "smollm2",
        "smollm2-135m-instruct",
        "smollm2-135m-instruct",
        CPU_FLAGS,
        OFFLINE_ENV,
        "embedded: SmolLM2-135M-Instruct on vLLM CPU",
        "built-in",
    ),
    # The same checkpoint upcast at load: twice the bytes per token, but no bf16 emulation on a CPU
    # without AVX512-BF16/AMX, where it reaches the first token several times sooner.
    "smollm2-fp32": Profile(
        "smollm2-fp32",
        "smollm2-135m-instruct",
        "smollm2-135m-instruct",
        (*CPU_FLAGS, "--dtype", "float32"),
        OFFLINE_ENV,
        "embedded: SmolLM2-135M-Instruct served in float32 on vLLM CPU (for CPUs without native bf16)",
        "built-in",
    ),
    "smollm2-tools": Profile(
        "smollm2-tools",
        "smollm2-135m-instruct",
        "smollm2-135m-instruct",
        CPU_FLAGS + TOOL_FLAGS,
        OFFLINE_ENV,
        "embedded: SmolLM2-135M-Instruct with Hermes tool calling on vLLM CPU",
        "built-in",
    ),
    "gemma3-base": Profile(
        "gemma3-base",
        "gemma3-270m-base",
        "gemma3-270m-base",
        CPU_FLAGS,
        OFFLINE_ENV,
        "embedded: Gemma 3 270M BASE (no chat template) on vLLM CPU",
        "built-in",
    ),
    "smollm2-llama": Profile(
        "smollm2-llama",
        "smollm2-135m-instruct",
        "smollm2-135m-instruct",
        LLAMA_CPU_FLAGS,
        PRIVATE_ENV,
        "embedded: SmolLM2-135M-Instruct, the packaged Q4_1 GGUF as is, on llama.cpp's llama-server",
        "built-in",
        engine="llama.cpp",
    ),
}


def _user_profiles(settings: Settings) -> dict[str, Path]:
    d = settings.profiles_dir
    return {p.stem: p for p in sorted(d.glob("*.toml"))} if d.is_dir() else {}


def list_profiles(settings: Settings) -> list[Profile]:
    out = dict(BUILTIN)
    for name in _user_profiles(settings):
        out[name] = load_profile(settings, name)
    return list(out.values())


def load_profile(settings: Settings, name: str) -> Profile:
    user = _user_profiles(settings)
    if name in user:
        path = user[name]
        try:
            pf = recipe_file_from_toml(
                path.read_text(), where=f"profile {path}", what="valid (a recipe file)"
            )
        except OSError as e:
            raise UsageError(f"cannot read profile {path}: {e}") from e
        local = pf.model in LOCAL_MODELS or pf.model.startswith(("/", "./", "../", "~"))
        env = tuple((dict(OFFLINE_ENV if local else PRIVATE_ENV) | pf.env).items())
        return Profile(
            name, pf.model, pf.served_name, tuple(pf.flags), env, pf.description, str(path), pf.engine
        )
    if name in BUILTIN:
        return BUILTIN[name]
    known = ", ".join(sorted(set(BUILTIN) | set(user)))
    raise UsageError(f"unknown profile {name!r}; known profiles: {known}")


def write_profile(settings: Settings, name: str, profile: Profile) -> Path:
    """Save a profile (a tune's winner) as DYNO_HOME/profiles/NAME.toml; refuses a built-in's name."""
    if name in BUILTIN:
        raise UsageError(f"{name!r} is a built-in profile; pick another name")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UsageError(f"profile names are letters, digits, '.', '_' and '-', not {name!r}")
    settings.profiles_dir.mkdir(parents=True, exist_ok=True)
    path = settings.profiles_dir / f"{name}.toml"
    recipe = Recipe(
        model=profile.model,
        served_name=profile.served_name,
        engine=profile.engine,
        flags=profile.flags,
        env=profile.env,
    )
    path.write_text(recipe_to_toml(recipe, profile.description))
    return path


def to_recipe(
    settings: Settings,
    profile: Profile,
    *,
    extra_flags: tuple[str, ...] = (),
    host: str = "127.0.0.1",
    api_key_env: str | None = None,
) -> Recipe:
    """The recipe for a profile; fetches (converts) the local model when it is one and missing.

    llama-server reads the packaged GGUF itself: nothing to convert, only its checksum to check.
    """
    model = profile.model
    served = profile.served_name
    if model in LOCAL_MODELS:
        model = str(adapter_for(profile.engine).local_model(settings, model))
        served = served or profile.model
    recipe = Recipe(
        model=model,
        served_name=served,
        engine=profile.engine,
        flags=profile.flags,
        env=profile.env,
        host=host,
        api_key_env=api_key_env,
    )
    return replace(recipe, flags=(*recipe.flags, *extra_flags))
