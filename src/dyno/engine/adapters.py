"""One small adapter per engine kind dyno launches: what differs between vLLM and llama-server.

The supervisor, the profiles and the lint preflight ask `adapter_for(recipe.engine)`
instead of branching on the engine's name, so a new engine is one more
`EngineAdapter` here (its argv is rendered by `dyno.recipe`, which renders
commands for every engine it knows, launched or not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dyno.engine import llamacpp, logscan, runtime
from dyno.engine.models import fetch, gguf_file
from dyno.errors import EngineError
from dyno.recipe import Recipe
from dyno.recipe.validate import EngineCheck, check_with_vllm
from dyno.settings import Settings

# (log lines, binary, version the server reported) -> (facts, version)
LogFactsFn = Callable[[list[str], Path, str | None], tuple[dict[str, object], str | None]]


@dataclass(frozen=True)
class EngineAdapter:
    kind: str  # Recipe.engine
    key_env: str  # the variable the engine reads its API key from, the way it reads --api-key
    key_list: bool  # --api-key takes a comma-separated list; dyno's own probes send the first
    find_binary: Callable[[], Path]  # the executable, made runnable; an EngineError naming the fix
    diagnose: Callable[[list[str]], str]  # one line: why it exited during start-up, from its log's tail
    log_facts: LogFactsFn  # what its start-up log says; the version when the server did not say
    local_model: Callable[[Settings, str], Path]  # an embedded model id, in the form this engine loads
    env_defaults: Callable[[Settings, str], dict[str, str]]  # (settings, profile): set unless given
    check_flags: Callable[[Recipe], EngineCheck] | None  # the engine's own parser of its flags, if any

    def probe_key(self, value: str) -> str:
        """The one key dyno's readiness probes send, of what the engine was given."""
        return value.split(",")[0] if self.key_list else value


def _vllm_facts(lines: list[str], _binary: Path, version: str | None) -> tuple[dict[str, object], str | None]:
    scanned = logscan.scan(lines)
    return scanned.as_dict(), version or scanned.engine_version


def _vllm_env(settings: Settings, profile: str) -> dict[str, str]:
    # vLLM keys its compile cache on the launch flags: two profiles sharing one folder would evict
    # each other's, and a `dyno switch` back to a profile would compile again.
    return {"VLLM_CACHE_ROOT": str(settings.cache_dir / "vllm" / profile)}


def _llama_facts(lines: list[str], binary: Path, version: str | None) -> tuple[dict[str, object], str | None]:
    # llama-server logs its build only at -lv 4; `--version` costs a process, so only when /props did not say
    return llamacpp.scan(lines), version or llamacpp.binary_version(binary)


def _llama_diagnose(tail: list[str]) -> str:
    return llamacpp.diagnose(tail) or logscan.diagnose(tail)


VLLM = EngineAdapter(
    kind="vllm",
    key_env="VLLM_API_KEY",
    key_list=False,
    find_binary=runtime.preflight,
    diagnose=logscan.diagnose,
    log_facts=_vllm_facts,
    local_model=lambda settings, model: fetch(settings, model).path,
    env_defaults=_vllm_env,
    check_flags=check_with_vllm,
)

LLAMA_SERVER = EngineAdapter(
    kind="llama.cpp",
    key_env="LLAMA_API_KEY",
    key_list=True,
    find_binary=llamacpp.find_llama_server,
    diagnose=_llama_diagnose,
    log_facts=_llama_facts,
    local_model=gguf_file,  # llama-server reads the packaged GGUF itself: nothing to convert
    env_defaults=lambda _settings, _profile: {},
    check_flags=None,  # its flags are checked by the lint rules that know them
)

ADAPTERS: dict[str, EngineAdapter] = {a.kind: a for a in (VLLM, LLAMA_SERVER)}


def adapter_for(kind: str) -> EngineAdapter:
    try:
        return ADAPTERS[kind]
    except KeyError:
        raise EngineError(f"dyno cannot launch engine {kind!r}; it launches: {', '.join(ADAPTERS)}") from None
