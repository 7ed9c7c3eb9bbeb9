"""Launching a profile: the refusals made before anything is prepared, then start and wait (`dyno up`),
and `dyno switch`, which rotates the one model a box holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from dyno.engine import profiles, supervisor
from dyno.engine.adapters import adapter_for
from dyno.engine.net import LOOPBACK, check_host, check_port_free
from dyno.engine.state import EngineState, read_state, running_state
from dyno.errors import EngineStartError, UsageError
from dyno.recipe import Recipe
from dyno.settings import Settings

Step = Callable[[str], None]


def quiet(_message: str) -> None:
    pass


def launch_profile(
    settings: Settings,
    name: str,
    *,
    extra_flags: tuple[str, ...] = (),
    base_flags: tuple[str, ...] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    api_key_env: str | None = None,
    allow_unauthenticated: bool = False,
    ready_timeout_s: float = supervisor.DEFAULT_READY_TIMEOUT_S,
    step: Step = quiet,
    on_progress: supervisor.ProgressFn | None = None,
) -> tuple[EngineState, float]:
    """Start a profile and wait until it serves; returns its state and seconds to ready.

    Refused before anything is prepared: an unknown profile, a busy port, and a
    server bound beyond loopback without an API key (unless the user says so).
    """
    prof = profiles.load_profile(settings, name)
    if base_flags is not None:
        prof = replace(prof, flags=base_flags)
    flags = (*prof.flags, *extra_flags)
    keyed = bool(api_key_env) or Recipe(prof.model, flags=flags).flag("--api-key") is not None
    keyed = keyed or any(k == adapter_for(prof.engine).key_env for k, _ in prof.env)
    if host not in LOOPBACK and not keyed and not allow_unauthenticated:
        raise UsageError(
            f"--host {host} exposes the engine beyond this machine, and it has no API key: anyone who can "
            "reach the port can use it. Set one with --api-key-env VAR, or pass --allow-unauthenticated "
            "if the network is yours alone"
        )
    check_host(host)
    if port is not None:  # before the model conversion, which can take a while
        check_port_free(host, port)
    step("preparing the model (converted once, then cached)")
    recipe = profiles.to_recipe(settings, prof, extra_flags=extra_flags, host=host, api_key_env=api_key_env)
    step(f"starting profile {name!r}")
    t0 = time.monotonic()
    state = supervisor.start(
        settings, name, recipe, port=port, ready_timeout_s=ready_timeout_s, on_progress=on_progress
    )
    return state, time.monotonic() - t0


@dataclass(frozen=True)
class Switched:
    state: EngineState
    ready_s: float
    stopped: str | None  # the profile that was running before, when one was


def switch(
    settings: Settings, name: str, *, step: Step = quiet, on_progress: supervisor.ProgressFn | None = None
) -> Switched:
    """Stop the running engine and start `name`, the way people rotate big models on one box.

    The profile is checked before anything is stopped. Each profile keeps its own compile cache
    (VLLM_CACHE_ROOT), so switching back does not compile again. If the new one fails to start,
    its own start-up takes its process group down: no engine is left half up, and the error says
    which one was stopped.
    """
    profiles.load_profile(settings, name)  # an unknown name stops nothing
    running = running_state(settings)
    if running is not None and running.profile == name:
        return Switched(running, 0.0, None)
    stopped = None
    if read_state(settings) is not None:
        step(f"stopping {running.profile!r}" if running else "cleaning up after a dead engine")
        report = supervisor.stop(settings)
        stopped = report.profile if running else None
    try:
        state, ready_s = launch_profile(settings, name, step=step, on_progress=on_progress)
    except EngineStartError as e:
        if stopped is None:
            raise
        msg = f"{e}\n{stopped!r} was stopped first, so no engine is running now"
        raise EngineStartError(msg, cause=e.cause, log_tail=e.log_tail) from e
    return Switched(state, ready_s, stopped)
