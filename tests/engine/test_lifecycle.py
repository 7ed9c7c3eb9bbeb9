"""The real embedded engine (vLLM CPU + SmolLM2) under dyno's supervision."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from dyno.client import Endpoint
from dyno.engine import profiles, supervisor
from dyno.engine.state import group_members, read_state
from dyno.errors import EngineStartError
from dyno.metrics import counter_delta, parse
from dyno.store import Store
from tests.conftest import default_sigint, home_with_models

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def dyno(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DYNO_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_up_chat_metrics_status_down_across_shells(shared_models: Path, tmp_path: Path) -> None:
    s = home_with_models(tmp_path / "home", shared_models)
    up = dyno(s.home, "up")
    assert up.returncode == 0, up.stderr + up.stdout
    state = read_state(s)
    assert state is not None and state.phase == "ready"
    group = group_members(state.pgid)
    assert state.pid in group and len(group) >= 2  # API server + engine core at least
    try:
        ep = Endpoint(state.url)
        before = parse(ep.metrics_text() or "")
        assert any(n.startswith("vllm:") for n in before.names())
        r = httpx.post(
            f"{state.url}/v1/chat/completions",
            timeout=60,
            json={
                "model": state.served_name,
                "max_tokens": 24,
                "temperature": 0,
                "messages": [{"role": "user", "content": "Name three colours."}],
            },
        )
        body = r.json()
        assert r.status_code == 200
        assert body["choices"][0]["message"]["content"].strip()
        usage = body["usage"]
        assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
        after = parse(ep.metrics_text() or "")
        assert counter_delta(before, after, "vllm:generation_tokens_total") == usage["completion_tokens"]
        assert counter_delta(before, after, "vllm:prompt_tokens_total") == usage["prompt_tokens"]
        assert counter_delta(before, after, "vllm:request_success_total") == 1

        st = dyno(s.home, "status", "--json")
        info = json.loads(st.stdout)
        assert st.returncode == 0 and info["running"] and info["healthy"]
        assert info["engine_version"] == "0.32.0" and info["pid"] == state.pid
        assert state.facts["kv_cache_tokens"] > 0
    finally:
        down = dyno(s.home, "down")
    assert down.returncode == 0, down.stderr
    assert "stopped smollm2" in down.stdout
    assert alive(group) == []
    assert group_members(state.pgid) == []
    assert read_state(s) is None
    assert "no engine is running" in dyno(s.home, "status").stdout


def test_unknown_vllm_flag_fails_with_the_flag_named(shared_models: Path, tmp_path: Path) -> None:
    s = home_with_models(tmp_path / "home", shared_models)
    recipe = profiles.to_recipe(s, profiles.load_profile(s, "smollm2"), extra_flags=("--bogus-flag", "3"))
    with pytest.raises(EngineStartError) as e:
        supervisor.start(s, "smollm2", recipe, ready_timeout_s=300)
    assert e.value.cause.startswith("unknown flag")  # the process exited; not a timeout
    assert "--bogus-flag" in str(e.value)
    assert read_state(s) is None

    cli = dyno(s.home, "up", "--", "--another-bogus-flag")
    assert cli.returncode == 1
    assert "unknown flag" in cli.stderr and "--another-bogus-flag" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_killed_engine_is_seen_by_status_and_down_cleans_the_group(
    shared_models: Path, tmp_path: Path
) -> None:
    s = home_with_models(tmp_path / "home", shared_models)
    state = supervisor.start(s, "smollm2", profiles.to_recipe(s, profiles.load_profile(s, "smollm2")))
    group = group_members(state.pgid)
    os.kill(state.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while state.pid in alive([state.pid]) and time.monotonic() < deadline:
        time.sleep(0.2)

    st = supervisor.status(s)
    assert st is not None and not st.alive
    assert "gone" in st.reason
    cli = dyno(s.home, "status")
    assert cli.returncode == 1
    assert "dead" in cli.stdout and "dyno down" in cli.stdout

    down = dyno(s.home, "down")
    assert down.returncode == 0, down.stderr
    assert "cleaned up after the dead engine" in down.stdout
    assert alive(group) == []
    assert read_state(s) is None


def test_demo_end_to_end_is_stored_and_reported_as_printed(shared_models: Path, tmp_path: Path) -> None:
    s = home_with_models(tmp_path / "home", shared_models)
    out = dyno(s.home, "demo")
    assert out.returncode == 0, out.stderr + out.stdout[-2000:]
    assert "decode tok/s" in out.stdout and "vllm 0.32.0" in out.stdout
    assert "of ceiling" in out.stdout and "% of " in out.stdout  # the measured figure next to its ceiling
    # The closing lines (stderr, beside "stored as run"): what this machine measured, on any CPU.
    closing = " ".join(out.stderr.split())
    assert "on this machine:" in closing and "measured: vLLM bfloat16 decode" in closing
    assert read_state(s) is None  # taken down afterwards
    with Store(s.db_path) as store:
        runs = store.list_runs()
        assert len(runs) == 1
        run = runs[0]
        assert (run.kind, run.status, run.engine_version) == ("demo", "complete", "0.32.0")
        assert run.launch_config is not None and "--enforce-eager" in run.launch_config["recipe"]["flags"]
        assert run.hardware is not None and run.hardware["logical_cores"] >= 1
        assert run.ceiling is not None and run.ceiling["hardware"] == "cpu"
        reqs = store.requests(run.id)
        scrapes = store.scrapes(run.id)
    by = {
        key: [r for r in reqs if (r.scenario, r.label) == key]
        for key in (("sanity", "chat"), ("decode", "warmup"), ("decode", "256"), ("concurrency", "4"))
    }
    assert [len(by[k]) for k in by] == [1, 1, 3, 4]
    assert all(r.ok for r in reqs)
    assert by[("sanity", "chat")][0].output_text.strip()
    for r in by[("decode", "256")] + by[("concurrency", "4")]:
        assert r.output_tokens == 256  # ignore_eos held the length
        assert r.t_sent_ns < (r.t_first_content_ns or 0) < (r.t_end_ns or 0)
    assert {x.scenario for x in scrapes} == {"sanity", "decode", "ttft", "concurrency"}  # /metrics stored
    # What the demo printed is what `dyno report` prints of the stored run.
    again = dyno(s.home, "report", str(run.id), "--format", "text")
    assert again.returncode == 0 and again.stdout == out.stdout
    assert "runs" not in dyno(s.home, "runs").stderr
    assert "demo" in dyno(s.home, "runs").stdout


def test_ctrl_c_during_startup_leaves_no_process_and_no_state(shared_models: Path, tmp_path: Path) -> None:
    s = home_with_models(tmp_path / "home", shared_models)
    env = {**os.environ, "DYNO_HOME": str(s.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dyno.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    # Wait until the engine group exists (state written right after the spawn).
    deadline = time.monotonic() + 120
    state = None
    while time.monotonic() < deadline:
        state = read_state(s)
        if state is not None and len(group_members(state.pgid)) >= 1:
            break
        time.sleep(0.2)
    assert state is not None and proc.poll() is None
    time.sleep(3)  # let vLLM get going (imports, forks)
    group = group_members(state.pgid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert alive(group) == [] and group_members(state.pgid) == []
    assert read_state(s) is None
