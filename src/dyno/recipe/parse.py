"""Turn a pasted command line back into a Recipe: `vllm serve ...`, `python -m vllm...`, `docker run ...`.

People paste what they run, so the parser accepts the shapes seen in the
field and keeps what a linter needs: the recipe, and for docker the container
options (GPU request, runtime, IPC, volumes, published ports, image tag).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from dyno.errors import UsageError
from dyno.recipe.model import Recipe

# docker run options that take a value (the rest are switches)
_DOCKER_VALUE_OPTS = frozenset(
    {
        "-e", "--env", "-v", "--volume", "-p", "--publish", "--name", "--shm-size", "--ipc", "--gpus",
        "--runtime", "--network", "--net", "-w", "--workdir", "--entrypoint", "--mount", "--env-file",
        "-u", "--user", "--restart", "--device", "--ulimit", "--cpus", "-m", "--memory", "-l", "--label",
        "--platform", "--pull", "--log-driver", "--log-opt", "--add-host", "-h", "--hostname",
        "--cap-add", "--cap-drop", "--security-opt", "--cgroupns", "--pid", "--uts", "--tmpfs",
        "--cpuset-cpus", "--memory-swap", "--group-add", "--stop-signal", "--stop-timeout",
        "--health-cmd", "--dns", "--expose", "--cidfile", "--userns", "--volumes-from",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Publish:
    host_ip: str | None  # None: all interfaces
    host_port: str
    container_port: str


@dataclass(frozen=True)
class DockerFacts:
    """What a pasted `docker run` says besides the engine arguments."""

    image: str
    gpus: str | None = None
    runtime: str | None = None
    ipc: str | None = None
    shm_size: str | None = None
    network: str | None = None
    volumes: tuple[str, ...] = ()
    env_names: tuple[str, ...] = ()  # every -e, including pass-through ones without a value
    publish: tuple[Publish, ...] = ()


@dataclass(frozen=True)
class ParsedCommand:
    recipe: Recipe
    docker: DockerFacts | None = None
    notes: tuple[str, ...] = field(default=())


def _split(words: Sequence[str] | str) -> list[str]:
    if isinstance(words, str):
        try:
            return shlex.split(words)
        except ValueError as e:
            raise UsageError(f"cannot split that command line: {e}") from e
    return list(words)


def _option_value(words: list[str], i: int, what: str) -> tuple[str, str, int]:
    """The option at `words[i]` and its value (`--x=v` or `--x v`), and the index of its last word."""
    name, eq, inline = words[i].partition("=")
    if eq:
        return name, inline, i
    if i + 1 < len(words):
        return name, words[i + 1], i + 1
    raise UsageError(f"{what}{name} needs a value")


def _engine_recipe(args: list[str], *, env: tuple[tuple[str, str], ...], image: str | None) -> Recipe:
    """A recipe from vLLM's own arguments (model first or via --model), host/port pulled out."""
    model: str | None = None
    host: str | None = None
    port: int | None = None
    served: str | None = None
    flags: list[str] = []
    i = 0
    while i < len(args):
        tok = args[i]
        if tok.partition("=")[0] in ("--model", "--host", "--port", "--served-model-name"):
            name, value, i = _option_value(args, i, "")
            if name == "--model":
                model = value
            elif name == "--host":
                host = value
            elif name == "--port":
                try:
                    port = int(value)
                except ValueError as e:
                    raise UsageError(f"--port {value!r} is not a number") from e
            else:
                served = value
        elif model is None and not tok.startswith("-") and not flags:
            model = tok
        else:
            flags.append(tok)
        i += 1
    if model is None:
        raise UsageError("no model in that command (give it after `serve`, or with --model)")
    # vLLM binds every interface when --host is not given
    return Recipe(
        model=model,
        served_name=served,
        flags=tuple(flags),
        env=env,
        host=host or "0.0.0.0",
        port=port,
        image=image,
    )


def _strip_env_prefix(words: list[str]) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    env = []
    while words and "=" in words[0] and not words[0].startswith("-"):
        k, _, v = words.pop(0).partition("=")
        env.append((k, v))
    return words, tuple(env)


def _after_vllm(words: list[str]) -> list[str] | None:
    """The engine arguments of `vllm serve ...` or `python -m vllm.entrypoints...`, else None."""
    if len(words) >= 2 and words[0].rsplit("/", 1)[-1] == "vllm" and words[1] == "serve":
        return words[2:]
    if (
        len(words) >= 3
        and words[0].rsplit("/", 1)[-1].startswith("python")
        and words[1] == "-m"
        and words[2].startswith("vllm.entrypoints")
    ):
        return words[3:]
    return None


def _parse_publish(spec: str) -> Publish:
    parts = spec.split(":")
    if len(parts) == 1:
        return Publish(None, parts[0], parts[0])
    if len(parts) == 2:
        return Publish(None, parts[0], parts[1])
    return Publish(":".join(parts[:-2]) or None, parts[-2], parts[-1])


def _parse_docker(words: list[str]) -> ParsedCommand:
    opts: dict[str, list[str]] = {}
    switches: set[str] = set()
    i = 0
    while i < len(words) and words[i].startswith("-"):
        name = words[i].partition("=")[0]
        if name in _DOCKER_VALUE_OPTS:
            name, value, i = _option_value(words, i, "docker option ")
            opts.setdefault(name, []).append(value)
        else:
            switches.add(name)
        i += 1
    if i >= len(words):
        raise UsageError("no image in that docker command")
    image = words[i]
    rest = words[i + 1 :]

    def get(*names: str) -> list[str]:
        return [v for n in names for v in opts.get(n, [])]

    def last(*names: str) -> str | None:
        values = get(*names)
        return values[-1] if values else None

    env_pairs: list[tuple[str, str]] = []
    env_names: list[str] = []
    for e in get("-e", "--env"):
        k, eq, v = e.partition("=")
        env_names.append(k)
        if eq:
            env_pairs.append((k, v))
    facts = DockerFacts(
        image=image,
        gpus=last("--gpus"),
        runtime=last("--runtime"),
        ipc=last("--ipc"),
        shm_size=last("--shm-size"),
        network=last("--network", "--net"),
        volumes=tuple(get("-v", "--volume")),
        env_names=tuple(env_names),
        publish=tuple(_parse_publish(p) for p in get("-p", "--publish")),
    )
    # the image's entrypoint is `vllm serve` (older images: the api_server module);
    # a command may also spell it out
    engine_args = _after_vllm(rest)
    if engine_args is None:
        engine_args = rest[1:] if rest[:1] == ["serve"] else rest
    recipe = _engine_recipe(engine_args, env=tuple(env_pairs), image=image)
    notes: tuple[str, ...] = ()
    if facts.network != "host":
        # inside a container vLLM binds 0.0.0.0; what matters is where -p publishes
        exposed = any(p.host_ip in (None, "0.0.0.0", "::") for p in facts.publish)
        host = "0.0.0.0" if exposed else "127.0.0.1"
        recipe = Recipe(
            model=recipe.model,
            served_name=recipe.served_name,
            flags=recipe.flags,
            env=recipe.env,
            host=host,
            port=recipe.port,
            image=image,
        )
        notes = ("host taken from docker's -p publishing, not vLLM's --host",)
    return ParsedCommand(recipe, facts, notes)


_LLAMA_VALUE_FLAGS = {"-m": "model", "--model": "model", "--host": "host", "--port": "port", "-a": "alias",
                      "--alias": "alias"}  # fmt: skip


def _llama_recipe(args: list[str], env: tuple[tuple[str, str], ...]) -> Recipe:
    """A recipe from `llama-server -m MODEL ...`: model, host, port and alias pulled out, the rest kept."""
    got: dict[str, str] = {}
    flags: list[str] = []
    i = 0
    while i < len(args):
        name, eq, inline = args[i].partition("=")
        key = _LLAMA_VALUE_FLAGS.get(name)
        if key is None:
            flags.append(args[i])
            i += 1
            continue
        if eq:
            got[key] = inline
        elif i + 1 < len(args):
            got[key] = args[i + 1]
            i += 1
        else:
            raise UsageError(f"{name} needs a value")
        i += 1
    if "model" not in got:
        raise UsageError("no model in that llama-server command (give it with -m)")
    try:
        port = int(got["port"]) if "port" in got else None
    except ValueError as e:
        raise UsageError(f"--port {got['port']!r} is not a number") from e
    alias = got.get("alias", "").split(",")[0] or None
    # llama-server binds 127.0.0.1 unless told otherwise
    return Recipe(model=got["model"], served_name=alias, engine="llama.cpp", flags=tuple(flags), env=env,
                  host=got.get("host", "127.0.0.1"), port=port)  # fmt: skip


def parse_command(command: Sequence[str] | str) -> ParsedCommand:
    """A recipe from a pasted `vllm serve`, `python -m vllm.entrypoints...` or `docker run` line."""
    words, env = _strip_env_prefix(_split(command))
    if not words:
        raise UsageError("empty command")
    if words[0].rsplit("/", 1)[-1] in ("docker", "podman"):
        if words[1:2] != ["run"]:
            raise UsageError("only `docker run ...` commands can be linted")
        parsed = _parse_docker(words[2:])
        if env:
            note = "shell variables before `docker run` are not passed into the container (use -e)"
            parsed = ParsedCommand(parsed.recipe, parsed.docker, (*parsed.notes, note))
        return parsed
    if words[0].rsplit("/", 1)[-1] == "llama-server":
        return ParsedCommand(_llama_recipe(words[1:], env))
    engine_args = _after_vllm(words)
    if engine_args is None:
        raise UsageError(
            "not a command dyno can read: expected `vllm serve MODEL ...`, "
            "`python -m vllm.entrypoints.openai.api_server --model MODEL ...`, `llama-server -m MODEL ...` "
            "or `docker run ... IMAGE ...`"
        )
    return ParsedCommand(_engine_recipe(engine_args, env=env, image=None))
