"""The Target: what a run measures, decided in one place.

A user names a target three ways: a URL, a profile name, or nothing (the
running engine, else the default profile). `open_target` turns that into the
base URL, the API key (read from the env var the user named; never stored),
the served model (picked, or checked against what is served), the engine's
lifecycle when dyno has to start it (started, waited for, and stopped on the
way out, Ctrl-C and SIGTERM included), and the run's provenance: engine and
version, launch flags, model and revision, quant, hardware, roofline inputs.
A run with two sides (verify, tune) calls `prepare_targets` first: every side
located, the box checked once and each URL probed once, before anything is stored.

bench, demo, check, verify and tune all take their target from here. Starting a
profile is engine/launch.py's; the key properties are read in engine/keyprops.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from dyno import provenance
from dyno.catalog import find_model, get_hardware
from dyno.client import Endpoint, ServedModel
from dyno.engine import profiles, supervisor
from dyno.engine.keyprops import key_properties
from dyno.engine.launch import Step, launch_profile, quiet
from dyno.engine.net import is_this_machine
from dyno.engine.state import EngineState, running_state
from dyno.errors import EndpointError, UsageError
from dyno.plan import CeilingInputs, ceiling_inputs
from dyno.provenance import RunProvenance
from dyno.recipe.model import flag_value
from dyno.settings import Settings


@dataclass(frozen=True)
class TargetSpec:
    """What the user named, before anything is resolved."""

    ref: str | None = None  # a URL, a profile name, or None: the running engine, else the default profile
    model: str | None = None  # served model name; None: the only one served
    api_key_env: str | None = None  # the env var holding the key; the key itself is never kept
    hardware: str | None = None  # catalog id for the roofline; None: this CPU when the engine is local
    keep: bool = False  # leave an engine this target started running
    port: int | None = None  # for an engine this target starts
    extra_flags: tuple[str, ...] = ()  # appended to a profile's flags when this target starts it
    base_flags: tuple[str, ...] | None = None  # instead of the profile's own flags (a tune's candidates)
    role: str = ""  # "candidate", "baseline": named in messages
    purpose: str = "benchmark"  # what the target is for, in "cannot <purpose> <target>" messages
    model_flag: str = "--model"  # the option that sets `model`, named in messages
    ready_timeout_s: float = supervisor.DEFAULT_READY_TIMEOUT_S


@dataclass(frozen=True)
class Located:
    """Where a spec points, before any engine is started."""

    spec: TargetSpec
    url: str | None  # None: a profile that must be started first
    profile: str | None
    state: EngineState | None  # the engine dyno runs behind the URL, when it does
    probed: Target | None = None  # what `prepare_targets` found there, so `open_target` asks once

    @property
    def needs_start(self) -> bool:
        return self.url is None


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def base_url(url: str) -> str:
    return url.rstrip("/").removesuffix("/v1")


def read_api_key(env_name: str | None) -> str | None:
    if not env_name:
        return None
    key = os.environ.get(env_name)
    if not key:
        raise UsageError(f"--api-key-env {env_name}: that environment variable is not set")
    return key


def locate(settings: Settings, spec: TargetSpec) -> Located:
    """Resolve a spec without starting anything; an unknown profile is a UsageError naming the known ones."""
    running = running_state(settings)
    if spec.ref is not None and is_url(spec.ref):
        url = base_url(spec.ref)
        same = running if running is not None and running.url == url else None
        return Located(spec, url, same.profile if same else None, same)
    name = spec.ref or (running.profile if running is not None else profiles.DEFAULT_PROFILE)
    profiles.load_profile(settings, name)
    if running is not None and running.profile == name:
        return Located(spec, running.url, name, running)
    return Located(spec, None, name, None)


def check_box(settings: Settings, located: list[Located]) -> None:
    """A profile that must be started needs the box to itself; dyno never stops an engine it did not start."""
    running = running_state(settings)
    starting = [x for x in located if x.needs_start]
    if starting and running is not None:
        names = " and ".join(repr(x.profile) for x in starting)
        raise UsageError(
            f"profile {names} would have to be started, but engine {running.profile!r} is running at "
            f"{running.url} and a box serves one model at a time; `dyno down` first, or pass the "
            "running engine's URL or profile"
        )


@dataclass(frozen=True)
class Target:
    """A reachable endpoint with its served model, and everything a run records about it."""

    spec: TargetSpec
    url: str
    api_key: str | None = field(repr=False)
    model: str | None  # the served name runs use; None only when `problem` says why
    served: tuple[ServedModel, ...]
    engine: str | None
    engine_version: str | None
    state: EngineState | None  # when dyno launched the engine behind the URL
    launched_here: bool
    ready_s: float | None  # process start -> serving, when this target started the engine
    ceiling: CeilingInputs | None
    problem: str | None = None  # why no model could be picked (only with strict=False)

    @property
    def profile(self) -> str | None:
        return self.state.profile if self.state else None

    @property
    def served_model(self) -> ServedModel | None:
        return next((m for m in self.served if m.id == self.model), None)

    @property
    def max_model_len(self) -> int:
        m = self.served_model
        return (m.max_model_len if m else None) or 4096

    def endpoint(self) -> Endpoint:
        return Endpoint(self.url, api_key=self.api_key)

    def launch_config(self) -> dict[str, Any] | None:
        st = self.state
        if st is None:
            return None
        return {
            "profile": st.profile,
            "recipe": st.recipe,
            "command": st.command,
            "log_facts": st.facts,
            "ready_s": self.ready_s,
        }

    def key_properties(self) -> dict[str, Any]:
        """What must match for two results to be compared (workload added by the runner)."""
        recipe = self.state.recipe if self.state else None
        return key_properties(self.model, self.served_model, self.engine, self.engine_version, recipe)

    def provenance(self) -> RunProvenance:
        return RunProvenance(
            endpoint=self.url,
            engine=self.engine,
            engine_version=self.engine_version,
            model=self.model,
            launch_config=self.launch_config(),
            hardware=provenance.machine(),
            server_info={
                "version": self.engine_version,
                "models": [m.__dict__ for m in self.served],
                "max_model_len": self.served_model.max_model_len if self.served_model else None,
            },
            key_properties=self.key_properties(),
            ceiling=self.ceiling.to_dict() if self.ceiling else None,
        )


def ceiling_for(
    settings: Settings,
    hardware: str | None,
    url: str,
    model: str | None,
    quant: str | None = None,
    dtype: str | None = None,
) -> CeilingInputs | None:
    """Roofline inputs when both the model and the hardware are known.

    Without `--hardware`, an engine on this machine is measured against this
    machine: the `cpu` entry (its measured single-core bandwidth; vLLM's CPU
    backend decodes on one core) when there is no GPU.
    """
    if model is None or find_model(model) is None:
        return None
    hw_id = hardware
    if hw_id is None:
        if not is_this_machine(urlsplit(url).hostname or "") or provenance.hardware().get("gpus"):
            return None
        hw_id = "cpu"
    return ceiling_inputs(get_hardware(hw_id, cpu_cache=settings.cache_dir), model, quant, dtype)


def _dtype(state: EngineState | None) -> str | None:
    """The dtype the engine dyno launched serves at (`--dtype`), when its flags say."""
    v = flag_value(state.command, "--dtype") if state else None
    return v if isinstance(v, str) else None


def _pick_model(spec: TargetSpec, url: str, served: list[ServedModel]) -> tuple[str | None, str | None]:
    ids = [m.id for m in served]
    if spec.model is None:
        if len(ids) == 1:
            return ids[0], None
        return None, f"{url} serves {ids or 'no models'}; pick one with {spec.model_flag}"
    if spec.model not in ids:
        return None, f"{url} does not serve {spec.model!r}; it serves {ids}"
    return spec.model, None


def probe(
    settings: Settings,
    spec: TargetSpec,
    url: str,
    api_key: str | None,
    *,
    state: EngineState | None = None,
    launched_here: bool = False,
    ready_s: float | None = None,
    strict: bool = True,
) -> Target:
    """Ask the endpoint what it serves and which engine it is.

    strict: an unreachable endpoint is an EndpointError and an unknown model a
    UsageError; otherwise both are returned as `problem` (dyno check reports
    them as a failed check instead).
    """
    what = f"the {spec.role} side ({spec.ref})" if spec.role else url
    served: list[ServedModel] = []
    engine: str | None = None
    version: str | None = None
    with Endpoint(url, api_key=api_key) as ep:
        try:
            served = ep.models()
        except EndpointError as e:
            if strict:
                raise EndpointError(f"cannot {spec.purpose} {what}: {e}") from e
            return Target(
                spec, url, api_key, None, (), None, None, state, launched_here, ready_s, None, str(e)
            )
        engine, version = ep.identify()
    model, problem = _pick_model(spec, url, served)
    if problem and strict:
        raise UsageError(problem)
    quant = next((m.quant for m in served if m.id == model), None)
    return Target(
        spec,
        url,
        api_key,
        model,
        tuple(served),
        engine,
        version,
        state,
        launched_here,
        ready_s,
        ceiling_for(settings, spec.hardware, url, model, quant, _dtype(state)),
        problem,
    )


def start_located(
    settings: Settings, loc: Located, *, step: Step, on_engine_progress: supervisor.ProgressFn | None
) -> tuple[EngineState, float]:
    """Start the profile a Located points at; returns its state and seconds to ready."""
    spec = loc.spec
    if loc.profile is None:
        raise UsageError("nothing to start: the target is a URL")
    who = f"{spec.role}: " if spec.role else ""
    if spec.hardware is None and not provenance.hardware().get("gpus"):
        # The CPU probe (bandwidth, matmul rates) is measured on an idle machine, before the engine
        # loads: measured during the load, it read 10-20% low here (AMD EPYC, 2 cores). Cached after.
        get_hardware("cpu", cpu_cache=settings.cache_dir)
    return launch_profile(
        settings,
        loc.profile,
        extra_flags=spec.extra_flags,
        base_flags=spec.base_flags,
        port=spec.port,
        api_key_env=spec.api_key_env,
        ready_timeout_s=spec.ready_timeout_s,
        step=lambda m: step(who + m),
        on_progress=on_engine_progress,
    )


def prepare_targets(settings: Settings, *specs: TargetSpec) -> list[Located]:
    """Every side located, checked and asked once, before a run stores or starts anything.

    Each spec is located, each key read, the box checked once for all of them
    (a profile to start needs it to itself), and each URL side probed once:
    an unreachable endpoint is an EndpointError, a model it does not serve or
    a missing key a UsageError. Pass each Located to `open_target(...,
    located=loc)`, which uses what the probe found instead of asking again.
    """
    located = [locate(settings, s) for s in specs]
    keys = [read_api_key(s.api_key_env) for s in specs]
    check_box(settings, located)
    return [
        loc
        if loc.url is None
        else replace(loc, probed=probe(settings, loc.spec, loc.url, key, state=loc.state))
        for loc, key in zip(located, keys, strict=True)
    ]


@contextmanager
def open_target(
    settings: Settings,
    spec: TargetSpec,
    *,
    step: Step = quiet,
    on_engine_progress: supervisor.ProgressFn | None = None,
    strict: bool = True,
    located: Located | None = None,
) -> Iterator[Target]:
    """The target, reachable, for the duration of the block.

    An engine started here is stopped when the block ends, however it ends
    (an error, Ctrl-C, or SIGTERM/SIGHUP, which dyno's CLI raises as
    KeyboardInterrupt), unless the spec says keep.
    """
    api_key = read_api_key(spec.api_key_env)
    loc = located or locate(settings, spec)
    if loc.url is not None:
        # a strict probe's answer also serves a lenient open
        known = loc.probed if loc.probed is not None and loc.probed.spec == spec else None
        yield known or probe(settings, spec, loc.url, api_key, state=loc.state, strict=strict)
        return
    check_box(settings, [loc])
    state, ready_s = start_located(settings, loc, step=step, on_engine_progress=on_engine_progress)
    try:
        yield probe(
            settings,
            spec,
            state.url,
            api_key,
            state=state,
            launched_here=True,
            ready_s=ready_s,
            strict=strict,
        )
    finally:
        if not spec.keep:
            who = f"{spec.role}: " if spec.role else ""
            step(f"{who}stopping the engine dyno started")
            supervisor.stop(settings)
