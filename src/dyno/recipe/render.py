"""Render a Recipe for the places people run vLLM: docker run, compose, two boxes over Ray.

Every value is quoted for its target (shell words via shlex, YAML scalars as
JSON strings with compose's `$` interpolation escaped), so a model name or a
flag value can never become an extra word or option. Each renderer returns
the words (argv lists) and a text form; tests split the text back and compare.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from dyno.errors import UsageError
from dyno.recipe.model import Recipe, to_argv, to_shell

DEFAULT_IMAGE = "vllm/vllm-openai:v0.32.0"  # the engine version dyno is built and tested against
DEFAULT_PORT = 8000
CONTAINER_HF_CACHE = "/root/.cache/huggingface"
CONTAINER_VLLM_CACHE = "/root/.cache/vllm"
RAY_PORT = 6379
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _check_env_name(name: str) -> str:
    if not _ENV_NAME.match(name):
        raise ValueError(f"not a valid environment variable name: {name!r}")
    return name


def serve_args(recipe: Recipe, *, host: str | None = None, port: int | None = None) -> list[str]:
    """The words after `vllm serve`: model, --host, --port, --served-model-name, flags."""
    argv = to_argv(
        Recipe(
            model=recipe.model,
            served_name=recipe.served_name,
            engine=recipe.engine,
            flags=recipe.flags,
            host=host or recipe.host,
            port=port if port is not None else recipe.port,
        )
    )
    return argv[2:]


@dataclass(frozen=True)
class DockerOptions:
    hf_cache: Path
    vllm_cache: Path
    publish_host: str = "127.0.0.1"  # the port is reachable only from this machine unless asked
    shm_size: str = "16g"
    name: str | None = None

    @classmethod
    def defaults(cls) -> DockerOptions:
        home = Path.home()
        return cls(hf_cache=home / ".cache" / "huggingface", vllm_cache=home / ".cache" / "vllm")


def _container_env(recipe: Recipe) -> list[tuple[str, str]]:
    env = [(_check_env_name(k), v) for k, v in recipe.env]
    # a persisted compile cache makes restarts take seconds instead of minutes
    if "VLLM_CACHE_ROOT" not in recipe.env_dict:
        env.append(("VLLM_CACHE_ROOT", CONTAINER_VLLM_CACHE))
    return env


def _model_mount(recipe: Recipe) -> str | None:
    """`PATH:PATH:ro` for a model given as a local path: the container sees only what is mounted."""
    if recipe.model.startswith("/"):
        return f"{recipe.model}:{recipe.model}:ro"
    return None


def to_docker_argv(recipe: Recipe, opts: DockerOptions | None = None) -> list[str]:
    """`docker run` words: GPUs, IPC, shm, HF and compile caches, a loopback-published port."""
    o = opts or DockerOptions.defaults()
    port = recipe.port or DEFAULT_PORT
    argv = ["docker", "run", "--rm"]
    if o.name:
        argv += ["--name", o.name]
    # --gpus all works with only the container toolkit; --runtime nvidia does not
    argv += ["--gpus", "all", "--ipc", "host", "--shm-size", o.shm_size]
    argv += ["-p", f"{o.publish_host}:{port}:{port}"]
    argv += ["-v", f"{o.hf_cache}:{CONTAINER_HF_CACHE}", "-v", f"{o.vllm_cache}:{CONTAINER_VLLM_CACHE}"]
    if mount := _model_mount(recipe):
        argv += ["-v", mount]
    for k, v in _container_env(recipe):
        argv += ["-e", f"{k}={v}"]
    if recipe.api_key_env:
        argv += ["-e", "VLLM_API_KEY"]  # taken from the caller's environment, never written out
    argv.append(recipe.image or DEFAULT_IMAGE)
    # inside the container vLLM must listen on all interfaces; -p decides who can reach it
    argv += serve_args(recipe, host="0.0.0.0", port=port)
    return argv


def _key_prefix(recipe: Recipe) -> str:
    """`VLLM_API_KEY="$NAME" ` when the key lives in a differently named variable."""
    if recipe.api_key_env and recipe.api_key_env != "VLLM_API_KEY":
        return f'VLLM_API_KEY="${_check_env_name(recipe.api_key_env)}" '
    return ""


def to_docker_shell(recipe: Recipe, opts: DockerOptions | None = None) -> str:
    return _key_prefix(recipe) + shlex.join(to_docker_argv(recipe, opts))


def _yaml_str(value: str) -> str:
    """A YAML double-quoted scalar: printable ASCII as is, everything else escaped.

    Compose interpolates `$`, so a literal dollar is written `$$`.
    """
    out = []
    for ch in value.replace("$", "$$"):
        o = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


def to_compose(recipe: Recipe, opts: DockerOptions | None = None, *, service: str = "vllm") -> str:
    """A docker compose file with one service, equivalent to `to_docker_argv`."""
    o = opts or DockerOptions.defaults()
    port = recipe.port or DEFAULT_PORT
    lines = [
        "services:",
        f"  {_check_env_name(service)}:",
        f"    image: {_yaml_str(recipe.image or DEFAULT_IMAGE)}",
        f"    ipc: {_yaml_str('host')}",
        f"    shm_size: {_yaml_str(o.shm_size)}",
        "    ports:",
        f"      - {_yaml_str(f'{o.publish_host}:{port}:{port}')}",
        "    volumes:",
        f"      - {_yaml_str(f'{o.hf_cache}:{CONTAINER_HF_CACHE}')}",
        f"      - {_yaml_str(f'{o.vllm_cache}:{CONTAINER_VLLM_CACHE}')}",
    ]
    if mount := _model_mount(recipe):
        lines.append(f"      - {_yaml_str(mount)}")
    lines.append("    environment:")
    lines += [f"      {k}: {_yaml_str(v)}" for k, v in _container_env(recipe)]
    if recipe.api_key_env:
        # compose reads the caller's variable at `up` time; the key itself is never written
        lines.append(f'      VLLM_API_KEY: "${{{_check_env_name(recipe.api_key_env)}}}"')
    lines += [
        "    command:",
        *(f"      - {_yaml_str(a)}" for a in serve_args(recipe, host="0.0.0.0", port=port)),
        "    deploy:",
        "      resources:",
        "        reservations:",
        "          devices:",
        f"            - driver: {_yaml_str('nvidia')}",
        f"              count: {_yaml_str('all')}",
        f"              capabilities: [{_yaml_str('gpu')}]",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RayLayout:
    """Two linked boxes serving one model with tensor parallelism over Ray.

    Run `head` on the first box, `worker` on the second, then `serve` on the head.
    """

    head: list[list[str]]
    worker: list[list[str]]
    serve: list[str]
    env: tuple[tuple[str, str], ...]

    def shell(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env)
        pre = env + " " if env else ""
        parts = ["# on the head box"]
        parts += [pre + shlex.join(c) for c in self.head]
        parts += ["# on the worker box"]
        parts += [pre + shlex.join(c) for c in self.worker]
        parts += ["# then on the head box", pre + shlex.join(self.serve)]
        return "\n".join(parts) + "\n"


def to_ray(
    recipe: Recipe, *, head_ip: str, worker_ip: str, interface: str | None = None, tensor_parallel: int = 2
) -> RayLayout:
    """Head + worker commands for vLLM multi-node serving with `--tensor-parallel-size 2`."""
    env: list[tuple[str, str]] = [(_check_env_name(k), v) for k, v in recipe.env]
    if interface:
        # NCCL and Gloo must use the link between the boxes, not the first NIC they find
        env += [("NCCL_SOCKET_IFNAME", interface), ("GLOO_SOCKET_IFNAME", interface)]
    head = [["ray", "start", "--head", f"--port={RAY_PORT}", f"--node-ip-address={head_ip}"]]
    worker = [
        ["ray", "start", f"--address={head_ip}:{RAY_PORT}", f"--node-ip-address={worker_ip}", "--block"]
    ]
    flags = [f for f in recipe.flags]
    serve = to_argv(
        Recipe(
            model=recipe.model,
            served_name=recipe.served_name,
            flags=(
                *flags,
                "--tensor-parallel-size",
                str(tensor_parallel),
                "--distributed-executor-backend",
                "ray",
            ),
            host=recipe.host,
            port=recipe.port,
        )
    )
    return RayLayout(head, worker, serve, tuple(env))


EMITS = ("argv", "docker", "compose", "ray")


def render_emit(
    recipe: Recipe,
    emit: str,
    *,
    head_ip: str = "HEAD_IP",
    worker_ip: str = "WORKER_IP",
    interface: str | None = None,
) -> str:
    """The launch command in the form asked for: a shell line, docker run, compose file or Ray pair."""
    if emit == "docker":
        return to_docker_shell(recipe)
    if emit == "compose":
        return to_compose(recipe)
    if emit == "ray":
        return to_ray(recipe, head_ip=head_ip, worker_ip=worker_ip, interface=interface).shell()
    if emit == "argv":
        return to_shell(recipe)
    raise UsageError(f"--emit must be one of {', '.join(EMITS)}, not {emit!r}")
