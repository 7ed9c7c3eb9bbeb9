"""The CLI on bad input: clean errors, right exit codes, no tracebacks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dyno.engine import profiles, supervisor
from dyno.engine.state import read_state
from dyno.errors import PortBusyError
from dyno.recipe import Recipe
from dyno.settings import Settings


def dyno(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )


def test_unknown_dyno_flag_is_a_usage_error() -> None:
    r = dyno("up", "--no-such-flag")
    assert r.returncode == 2
    assert "No such option" in r.stderr and "Traceback" not in r.stderr


def test_unknown_profile_names_the_known_ones() -> None:
    r = dyno("up", "no-such-profile")
    assert r.returncode == 2
    assert "unknown profile 'no-such-profile'" in r.stderr and "smollm2" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_model_to_fetch() -> None:
    r = dyno("models", "fetch", "llama-9000")
    assert r.returncode == 1 and "unknown local model" in r.stderr


def test_status_down_runs_with_nothing_there() -> None:
    assert "no engine is running" in dyno("status").stdout
    assert "no engine is running" in dyno("down").stdout
    assert "no runs stored yet" in dyno("runs").stdout


def test_busy_port_is_refused_before_anything_starts(dyno_home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        settings = Settings.from_env()
        with pytest.raises(PortBusyError, match=f"port {port} on 127.0.0.1 is already in use"):
            supervisor.start(settings, "x", Recipe(model="/nonexistent"), port=port)
        assert read_state(settings) is None
        r = dyno("up", "--port", str(port))
        assert r.returncode == 1 and "already in use" in r.stderr


def test_user_profile_file_is_loaded_and_validated(dyno_home: Path) -> None:
    from dyno.engine.profiles import load_profile
    from dyno.errors import UsageError

    d = dyno_home / "profiles"
    d.mkdir(parents=True)
    (d / "mine.toml").write_text('model = "/models/x"\nflags = ["--enforce-eager"]\n[env]\nA = "1"\n')
    p = load_profile(Settings.from_env(), "mine")
    assert p.model == "/models/x" and p.flags == ("--enforce-eager",)
    assert dict(p.env)["A"] == "1" and dict(p.env)["HF_HUB_OFFLINE"] == "1"
    (d / "bad.toml").write_text('model = "/m"\nflagz = []\n')
    with pytest.raises(UsageError, match="not valid"):
        load_profile(Settings.from_env(), "bad")


def test_a_user_profile_naming_a_hub_id_may_download(dyno_home: Path) -> None:
    # Offline is forced only onto local models: a hub id must be free to download where a hub exists.
    (dyno_home / "profiles").mkdir(parents=True)
    (dyno_home / "profiles" / "hub.toml").write_text('model = "Qwen/Qwen3-0.6B"\n[env]\nA = "1"\n')
    p = profiles.load_profile(Settings.from_env(), "hub")
    assert "HF_HUB_OFFLINE" not in dict(p.env) and dict(p.env)["VLLM_NO_USAGE_STATS"] == "1"
