"""Shared fixtures.

Every test gets its own DYNO_HOME (autouse), so nothing touches a user's state.
Engine tests share converted models through one session-wide models folder
(a conversion costs 25-50 s on two cores) and start as few engines as they can.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from dyno.engine import profiles, supervisor
from dyno.engine.models import fetch
from dyno.engine.state import EngineState, read_state
from dyno.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"

HAVE_VLLM = importlib.util.find_spec("vllm") is not None


def default_sigint() -> None:
    """preexec_fn for a child a test sends SIGINT to: a suite started in the background from a
    non-interactive shell runs with SIGINT ignored, and a child inherits that; Python then never
    installs its KeyboardInterrupt handler and the signal would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="session")
def cpu_probe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CPU probe (bandwidth, matmul rates per dtype: several seconds) measured once per session."""
    from dyno.catalog.cpu import CACHE_FILE, load_or_measure

    cache = tmp_path_factory.mktemp("cpu-probe")
    load_or_measure(cache)
    return cache / CACHE_FILE


@pytest.fixture(autouse=True)
def dyno_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_probe_file: Path) -> Path:
    home = tmp_path / "dyno-home"
    monkeypatch.setenv("DYNO_HOME", str(home))
    # each test's home starts with this machine's CPU probe, as a user's does after the first run
    (home / "cache").mkdir(parents=True)
    shutil.copy(cpu_probe_file, home / "cache" / cpu_probe_file.name)
    return home


def missing(why: str) -> NoReturn:
    """A part the README promises is not here: a skip on a developer's machine, a failure under CI
    (`CI` set), where nothing the README promises may be skipped quietly."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (under CI nothing the README promises is skipped)", pytrace=False)
    pytest.skip(why)


# The engines the session shares, in the order their users run. Their users are run together
# (first the plain engine's, then those of both, then the spec-tools engine's), and each engine is
# stopped after its last user instead of at the end of the session: an idle vLLM CPU engine
# still burns ~20% of a core, and on 2 cores it slowed every test that starts its own.
SHARED_ENGINES = ("engine", "spec_tools_engine")
_LAST_USER: dict[str, str] = {}  # fixture name -> node id of the last test that uses it
_RUNNING: dict[str, RunningEngine] = {}


def _uses(item: pytest.Item, name: str) -> bool:
    """The test asks for the shared fixture `name` (a parametrized argument of that name is not it)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return name in getattr(item, "fixturenames", ()) and name not in params


def _engine_group(item: pytest.Item) -> int:
    used = [_uses(item, name) for name in SHARED_ENGINES]
    return {(True, False): 0, (True, True): 1, (False, True): 2}.get((used[0], used[1]), 3)


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what they will
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_engine_group)  # stable: each group keeps its order, the rest follow
    _LAST_USER.clear()
    for item in items:
        for name in SHARED_ENGINES:
            if _uses(item, name):
                _LAST_USER[name] = item.nodeid
    if HAVE_VLLM:
        return
    why = "vLLM is not installed (install the cpu extra: ./dev install)"
    engine_tests = [item for item in items if "engine" in item.keywords]
    if engine_tests and os.environ.get("CI"):
        raise pytest.UsageError(
            f"{why}: {len(engine_tests)} engine tests cannot run, and under CI nothing is skipped"
        )
    for item in engine_tests:
        item.add_marker(pytest.mark.skip(reason=why))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield
    for name, last in _LAST_USER.items():
        if last == item.nodeid and (eng := _RUNNING.pop(name, None)) is not None:
            supervisor.stop(eng.settings)  # its fixture's own stop, at the session's end, finds none


@pytest.fixture(scope="session")
def shared_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder converted once per session and linked into engine tests' homes."""
    root = tmp_path_factory.mktemp("models-home")
    s = Settings(home=root).ensure()
    fetch(s, "smollm2-135m-instruct")
    return s.models_dir


# Homes whose engines the test that made them must not leave running (see `reap_engines`).
_HOMES: list[Settings] = []


def home_with_models(base: Path, shared: Path, *, reap: bool = True) -> Settings:
    s = Settings(home=base).ensure()
    s.models_dir.rmdir()
    s.models_dir.symlink_to(shared, target_is_directory=True)
    if reap:
        _HOMES.append(s)
    return s


@pytest.fixture(autouse=True)
def reap_engines() -> Iterator[None]:
    """A test that fails half-way must not leave its engine running: whatever engine a test's homes
    still record when it ends, passed or failed, is stopped (its whole process group)."""
    first = len(_HOMES)
    yield
    for s in _HOMES[first:]:
        state = read_state(s)
        if state is not None:
            with contextlib.suppress(Exception):
                supervisor.stop(s, grace_s=10)
    del _HOMES[first:]


class RunningEngine:
    def __init__(self, settings: Settings, state: EngineState) -> None:
        self.settings = settings
        self.state = state

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def model(self) -> str:
        return self.state.served_name


def start_engine(
    tmp: Path,
    shared: Path,
    name: str,
    extra: tuple[str, ...] = (),
    profile: str = "smollm2",
    *,
    reap: bool = True,
) -> RunningEngine:
    s = home_with_models(tmp / name, shared, reap=reap)
    prof = profiles.load_profile(s, profile)
    recipe = profiles.to_recipe(s, prof, extra_flags=extra)
    return RunningEngine(s, supervisor.start(s, profile, recipe))


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory, shared_models: Path) -> Iterator[RunningEngine]:
    """The plain embedded engine (SmolLM2, no tool flags, no speculation), shared by the session."""
    eng = start_engine(tmp_path_factory.mktemp("engine"), shared_models, "plain", reap=False)
    _RUNNING["engine"] = eng
    yield eng
    _RUNNING.pop("engine", None)
    supervisor.stop(eng.settings)


NGRAM = '{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":4}'


@pytest.fixture(scope="session")
def spec_tools_engine(
    tmp_path_factory: pytest.TempPathFactory, shared_models: Path
) -> Iterator[RunningEngine]:
    """SmolLM2 with ngram speculation AND Hermes tool calling: one start-up serves the spec-decode
    and tool-calling tests (two cores; every engine start costs ~40 s)."""
    eng = start_engine(
        tmp_path_factory.mktemp("engine"),
        shared_models,
        "spec-tools",
        ("--speculative-config", NGRAM),
        profile="smollm2-tools",
        reap=False,
    )
    _RUNNING["spec_tools_engine"] = eng
    yield eng
    _RUNNING.pop("spec_tools_engine", None)
    supervisor.stop(eng.settings)


@pytest.fixture
def engine_env(engine: RunningEngine, monkeypatch: pytest.MonkeyPatch) -> RunningEngine:
    """Point DYNO_HOME at the shared engine's home, for CLI tests that use `the running engine`."""
    monkeypatch.setenv("DYNO_HOME", str(engine.settings.home))
    os.environ["DYNO_HOME"] = str(engine.settings.home)
    return engine
