"""The real engine under a SIGTERM that hits the dyno which started it, and secrets that must not leak."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from dyno.engine.profiles import CPU_FLAGS
from dyno.engine.state import group_members, read_state
from dyno.store import Store
from tests.conftest import home_with_models

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_sigterm_to_a_bench_that_started_the_engine_leaves_no_engine_and_a_partial_run(
    shared_models: Path, tmp_path: Path
) -> None:
    s = home_with_models(tmp_path / "home", shared_models)
    env = {**os.environ, "DYNO_HOME": str(s.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dyno.cli", "bench", "--suite", "quick"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    state, rid = None, None
    while time.monotonic() < deadline and proc.poll() is None:
        state = state or read_state(s)
        if s.db_path.exists():
            with Store(s.db_path) as store:
                rid = store.latest_run_id()
                if rid is not None and len(store.requests(rid)) >= 2:
                    break
        time.sleep(0.2)
    assert state is not None and rid is not None, proc.stderr.read() if proc.stderr else ""
    group = group_members(state.pgid)
    assert group  # the engine dyno started is up and measuring
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminated by SIGTERM" in err and "Traceback" not in err
    assert group_members(state.pgid) == []  # no orphan: the whole group is gone
    assert read_state(s) is None
    with Store(s.db_path) as store:
        run = store.get_run(rid)
        assert run is not None and run.status == "partial" and "SIGTERM" in (run.note or "")
        assert len([r for r in store.requests(rid) if r.ok]) >= 2


def test_a_canary_secret_appears_nowhere(shared_models: Path, tmp_path: Path) -> None:
    s = home_with_models(tmp_path / "home", shared_models)
    hf, key, lint_key = "CANARY-hf-7f3a9c", "CANARY-key-51d2e8", "CANARY-lint-0b4c66"
    s.profiles_dir.mkdir(parents=True, exist_ok=True)
    flags = ", ".join(f'"{f}"' for f in CPU_FLAGS)
    (s.profiles_dir / "canary.toml").write_text(
        f'model = "smollm2-135m-instruct"\nflags = [{flags}]\n[env]\nHF_TOKEN = "{hf}"\n'
    )
    env = {**os.environ, "DYNO_HOME": str(s.home), "COLUMNS": "200", "DYNO_TEST_KEY": key}
    outputs: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "dyno.cli", *args], env=env, capture_output=True, text=True, timeout=600
        )
        outputs.extend([out.stdout, out.stderr])
        return out

    up = run("up", "canary", "--api-key-env", "DYNO_TEST_KEY")
    assert up.returncode == 0, up.stderr
    try:
        state = read_state(s)
        assert state is not None
        # The engine's real command line holds neither secret; the key reaches it in its environment
        # (the variable vLLM reads), and the server then refuses a request without it.
        procs = [psutil.Process(state.pid), *psutil.Process(state.pid).children(recursive=True)]
        for proc in procs:
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
            assert key.encode() not in cmdline and hf.encode() not in cmdline, proc.cmdline()
        environ = Path(f"/proc/{state.pid}/environ").read_bytes().split(b"\0")
        assert f"VLLM_API_KEY={key}".encode() in environ
        models = f"{state.url}/v1/models"
        assert httpx.get(models, timeout=30).status_code == 401
        assert httpx.get(models, headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code == 200
        bench = run("bench", "--api-key-env", "DYNO_TEST_KEY", "--scenario", "decode", "--repeat", "1")
        assert bench.returncode == 0, bench.stderr
        for fmt in ("md", "json", "csv", "text"):
            assert run("report", "last", "--format", fmt).returncode == 0
        run("status", "--json")
        run(
            "lint", "--no-engine-check", "--format", "json", "--", "vllm", "serve", "m", "--api-key", lint_key
        )
        run("lint", "--no-engine-check", "--", "vllm", "serve", "m", "--api-key", lint_key)
    finally:
        assert run("down").returncode == 0
    for canary in (hf, key, lint_key):
        assert not any(canary in o for o in outputs), canary
        for path in s.home.rglob("*"):
            # The profile file is the user's own input; everything dyno wrote is searched.
            if path.is_file() and not path.is_symlink() and not {"models", "profiles"} & set(path.parts):
                assert canary.encode() not in path.read_bytes(), f"{canary} in {path}"
