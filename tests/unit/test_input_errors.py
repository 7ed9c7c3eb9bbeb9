"""Every CLI input error is a usage error (exit 2) that says what is allowed; none is a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from dyno.engine import supervisor
from dyno.engine.state import EngineState, read_state, write_state
from dyno.settings import Settings


def dyno(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("plan", "--hardware", "gb10", "--model", "gemma-4-26b-a4b-it", "--spec-k", "0"), "--spec-k"),
        (("plan", "--hardware", "gb10", "--model", "gemma-4-26b-a4b-it", "--context", "0"), "--context"),
        (("plan", "--hardware", "gb10", "--model", "gemma-4-26b-a4b-it", "--emit", "helm"), "argv"),
        (("bench", "--format", "xml"), "md"),
        (("bench", "--suite", "huge"), "quick"),
        (("report", "last", "--format", "pdf"), "csv"),
        (("check", "--format", "yaml"), "json"),
        # The router's key is read before anything starts; --via-model alone has no router.
        (("check", "--via", "http://h:9", "--via-api-key-env", "DYNO_UNSET_X"), "DYNO_UNSET_X"),
        (("check", "--via-model", "alias"), "--via URL"),
        (("up", "--port", "0"), "--port"),
        # tune sweeps vLLM flags; a llama-server profile is refused before anything starts
        (("tune", "smollm2-llama", "--sweep", "np=1,4"), "sweeps vLLM's flags"),
        # --objective capacity needs per-request objectives; other objectives take one limit
        (("tune", "smollm2", "--sweep", "max-num-seqs=2,4", "--objective", "capacity"), "needs --slo"),
        (
            ("tune", "smollm2", "--sweep", "max-num-seqs=2,4", "--objective", "capacity", "--slo", "ttft<=1"),
            "--slo 'ttft<=1'",
        ),
        (
            (
                "tune",
                "smollm2",
                "--sweep",
                "max-num-seqs=2,4",
                "--slo",
                "ttft_p99_ms<=5",
                "--slo",
                "ttft_p50_ms<=1",
            ),
            "takes one limit",
        ),
        (("tune", "smollm2", "--sweep", "max-num-seqs=2,4", "--objective", "goodput"), "capacity"),
        (("capacity", "--slo", "ttft_ms<=500", "--start", "9", "--max-concurrency", "4"), "--start"),
        # users in conversations: --turns makes them; their shape alone is refused, as is a bad one
        (("capacity", "--slo", "ttft_ms<=500", "--think-time", "2"), "add"),
        (("capacity", "--slo", "ttft_ms<=500", "--turns", "many"), "--turns"),
        (("tune", "smollm2", "--sweep", "max-num-seqs=2,4", "--turns", "4"), "--objective capacity"),
        (
            (
                "tune",
                "smollm2",
                "--sweep",
                "max-num-seqs=2,4",
                "--objective",
                "capacity",
                "--slo",
                "ttft_ms<=500",
                "--turns",
                "4..x",
            ),
            "--turns",
        ),
        (("bench", "--slo", "tpot_ms>=5", "--scenario", "concurrency"), "tpot_ms<=N"),
    ],
)
def test_bad_values_are_usage_errors_that_name_the_choices(args: tuple[str, ...], says: str) -> None:
    out = dyno(*args)
    assert out.returncode == 2, out.stderr
    assert says in out.stderr and "Traceback" not in out.stderr


def test_a_recipe_naming_an_unknown_engine(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('engine = "sglang"\nmodel = "m"\n')
    out = dyno("lint", str(recipe), "--format", "json")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "engine 'sglang' is not one dyno can launch or lint; known: vllm" in " ".join(out.stderr.split())


def test_up_beyond_loopback_without_a_key_is_refused_before_anything_starts(dyno_home: Path) -> None:
    out = dyno("up", "--host", "0.0.0.0")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    msg = " ".join(out.stderr.split())
    assert "--allow-unauthenticated" in msg and "--api-key-env" in msg
    assert not (dyno_home / "models").exists()  # refused before the model was even prepared


def test_an_unresolvable_host_is_its_own_error(dyno_home: Path) -> None:
    out = dyno("up", "--host", "no-such-host.invalid", "--allow-unauthenticated")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "does not resolve" in out.stderr and "busy" not in out.stderr


def test_down_never_signals_a_process_group_that_is_no_longer_the_engines(dyno_home: Path) -> None:
    # A state file whose pid now belongs to another program (pid reuse): its group must survive.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        s = Settings.from_env()
        write_state(
            s,
            EngineState(
                profile="smollm2",
                pid=other.pid,
                pgid=other.pid,
                create_time=psutil.Process(other.pid).create_time() - 1000,  # not the recorded process
                host="127.0.0.1",
                port=1,
                served_name="m",
                model="m",
                recipe={},
                command=[],
                log_path="/dev/null",
                started_at=time.time() - 1000,
            ),
        )
        report = supervisor.stop(s, grace_s=1)
        assert report.terminated == () and read_state(s) is None
        assert other.poll() is None  # still running: not ours to kill
    finally:
        other.kill()
        other.wait()
