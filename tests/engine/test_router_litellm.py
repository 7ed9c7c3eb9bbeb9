"""`dyno check --via` through a real LiteLLM proxy in front of the embedded engine.

The proxy runs from its own venv, .venv-litellm (`./dev test` makes it: LiteLLM's pins clash with
vLLM's). It serves the engine under an alias, `gemma4`, as LiteLLM users do. Its fallback
deployment is no model at all: the pacing fixture server, which streams " tok0 tok1 ..." and has a
context far larger than the engine's, so whatever it answers is plainly not the engine.

Run with -s to see the exact `dyno check` output for both configurations.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyno.probe.identity import OVERFLOW
from dyno.settings import Settings
from dyno.store import CheckRow, Store
from tests.conftest import RunningEngine, missing
from tests.fixtures.pacing_server import PacingConfig, PacingServer

pytestmark = [pytest.mark.engine, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
INSTALL_LOG = ROOT / ".venv-litellm.log"
ALIAS = "gemma4"
KEY_ENV = "DYNO_TEST_ROUTER_KEY"


def _litellm_or_skip() -> Path:
    if LITELLM.exists():
        return LITELLM
    why = "`./dev test` installs it"
    if INSTALL_LOG.exists():
        why = "its install failed: " + " | ".join(INSTALL_LOG.read_text(errors="replace").splitlines()[-3:])
    missing(f"no LiteLLM proxy in .venv-litellm ({why})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def litellm_proxy(config: dict[str, Any], tmp: Path, master_key: str) -> Iterator[str]:
    """A LiteLLM proxy on loopback for the length of the block, in its own process group (killed
    whole on the way out, passed or failed). Yields its URL."""
    exe = _litellm_or_skip()
    cfg = tmp / "litellm.yaml"
    cfg.write_text(json.dumps(config, indent=2))  # JSON is YAML: no YAML writer needed here
    port = _free_port()
    env = {
        **os.environ,
        # It refuses to start without a master key (and with the documented `sk-1234`).
        "LITELLM_MASTER_KEY": master_key,
        # Its model price list would otherwise be fetched from the internet at import.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    log = tmp / "litellm.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # ~7 s idle; much longer on two cores beside vLLM
        while True:
            if proc.poll() is not None:
                pytest.fail(f"LiteLLM exited ({proc.returncode}) during start-up:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"LiteLLM not ready in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def fixture_server() -> Iterator[PacingServer]:
    """The fallback deployment: the pacing fixture, with a context 16x the engine's."""
    with PacingServer(PacingConfig(model="pacing-fixture", max_model_len=32768, ttft_s=0, itl_s=0)) as srv:
        yield srv


def deployment(alias: str, model: str, base_url: str) -> dict[str, Any]:
    # hosted_vllm/: LiteLLM's provider for vLLM's OpenAI server; the key is a dummy (none is checked).
    return {
        "model_name": alias,
        "litellm_params": {"model": f"hosted_vllm/{model}", "api_base": f"{base_url}/v1", "api_key": "none"},
    }


def check_via(engine: RunningEngine, router: str, home: Path, key: str) -> tuple[int, str, CheckRow, str]:
    """`dyno check ENGINE --via ROUTER --via-model gemma4 --via-api-key-env VAR` as a user runs it:
    (exit code, what it printed, the stored identity verdict, the run's stored method)."""
    env = {**os.environ, "DYNO_HOME": str(home), KEY_ENV: key, "COLUMNS": "160"}
    args = ["check", engine.url, "--via", router, "--via-model", ALIAS, "--via-api-key-env", KEY_ENV]
    out = subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args], env=env, capture_output=True, text=True, timeout=900
    )
    printed = out.stdout + out.stderr
    print(f"\n$ dyno {' '.join(args)}\n{printed}(exit {out.returncode})")
    assert key not in printed
    with Store(Settings(home=home).db_path) as store:
        run = store.list_runs(kind="check")[0]
        identity = next(c for c in store.checks(run.id) if c.check_id == "identity")
        method = json.dumps(run.method)
    assert key not in Settings(home=home).db_path.read_bytes().decode(errors="replace")
    return out.returncode, printed, identity, method


def test_a_router_that_falls_back_fails_the_identity_check(
    engine: RunningEngine, fixture_server: PacingServer, tmp_path: Path, dyno_home: Path
) -> None:
    key = "sk-" + secrets.token_hex(16)
    config = {
        "model_list": [
            deployment(ALIAS, engine.model, engine.url),
            deployment("backup", "pacing-fixture", fixture_server.url),
        ],
        "router_settings": {"fallbacks": [{ALIAS: ["backup"]}]},
    }
    with litellm_proxy(config, tmp_path, key) as router:
        rc, printed, identity, method = check_via(engine, router, dyno_home, key)
    assert rc == 1 and "check(s) failed" in printed
    assert identity.status == "fail", identity.evidence
    # The engine refuses the over-long prompt; LiteLLM sends it to the fixture server and answers 200.
    assert OVERFLOW in identity.facts["fell_back"]
    assert f"{OVERFLOW}: the engine refused it (HTTP 400" in identity.evidence
    assert "x-litellm-attempted-fallbacks: 1" in identity.evidence
    assert f"direct as {engine.model!r}, through the router as {ALIAS!r}" in identity.evidence
    assert "context_window_fallbacks" in identity.fix
    assert any(r.body.get("model") == "pacing-fixture" for r in fixture_server.sent_log)
    assert KEY_ENV in method and "via_model" in method


def test_a_pass_through_alias_passes_the_identity_check(
    engine: RunningEngine, fixture_server: PacingServer, tmp_path: Path, dyno_home: Path
) -> None:
    key = "sk-" + secrets.token_hex(16)
    sent_before = len(fixture_server.sent_log)
    with litellm_proxy(
        {"model_list": [deployment(ALIAS, engine.model, engine.url)]}, tmp_path, key
    ) as router:
        _rc, _printed, identity, _method = check_via(engine, router, dyno_home, key)
    assert identity.status == "pass", identity.evidence
    # Every canary went through, the overflow included: the router passed the engine's 400 on.
    assert identity.facts["canaries"] == ["capital", "count", "code", "tools-auto", OVERFLOW]
    assert f"direct as {engine.model!r}, through the router as {ALIAS!r}" in identity.evidence
    assert len(fixture_server.sent_log) == sent_before
