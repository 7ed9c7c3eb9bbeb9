"""dyno against servers that fail: exit codes that tell the truth, named error kinds, reports that render."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dyno.engine.state import read_state
from dyno.settings import Settings
from dyno.store import Store
from tests.fixtures.hostile_server import hostile_server


def dyno(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DYNO_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("500", "http_5xx"),
        ("html", "not_sse"),
        ("json", "not_sse"),
        ("503", "upstream_unavailable"),
        ("redirect", "redirect"),
    ],
)
def test_a_server_that_fails_every_request_is_a_failed_run_and_exit_1(
    dyno_home: Path, mode: str, kind: str
) -> None:
    with hostile_server(mode) as srv:
        out = dyno(dyno_home, "bench", srv.url, "--scenario", "decode", "--repeat", "2")
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert f"2 of 2 measured requests failed: {kind} ×2" in " ".join(out.stderr.split())
    with Store(Settings.from_env().db_path) as store:
        run = store.list_runs()[0]
        assert run.status == "failed" and run.n_errors == 3  # the warm-up failed too, and is kept
        assert run.note is not None and kind in run.note


def test_metrics_that_are_html_are_stored_noted_and_every_format_still_renders(dyno_home: Path) -> None:
    with hostile_server("alternate", metrics="html") as srv:
        out = dyno(dyno_home, "bench", srv.url, "--scenario", "decode", "--repeat", "4")
    assert "Traceback" not in out.stderr + out.stdout
    with Store(Settings.from_env().db_path) as store:
        run = store.list_runs()[0]
        scrapes = store.scrapes(run.id)
    assert scrapes and all(x.text.startswith("<!doctype html>") for x in scrapes)  # stored as it came
    assert "not Prometheus text" in out.stdout and "/metrics n/a" in out.stdout
    for fmt in ("md", "json", "csv", "text"):
        rep = dyno(dyno_home, "report", str(run.id), "--format", fmt)
        assert rep.returncode == 0 and "Traceback" not in rep.stderr, rep.stderr
    doc = json.loads(dyno(dyno_home, "report", str(run.id), "--format", "json").stdout)
    assert any("not Prometheus text" in n for s in doc["scenarios"] for n in s["notes"])


def test_max_error_rate_tolerates_a_fraction_and_says_so(dyno_home: Path) -> None:
    # Odd requests succeed, even ones get HTTP 500: 2 of the 4 measured requests fail.
    with hostile_server("alternate", metrics="prom") as srv:
        strict = dyno(dyno_home, "bench", srv.url, "--scenario", "decode", "--repeat", "4")
        loose = dyno(
            dyno_home, "bench", srv.url, "--scenario", "decode", "--repeat", "4", "--max-error-rate", "0.5"
        )
    assert strict.returncode == 1 and "2 of 4 measured requests failed: http_5xx ×2" in strict.stderr
    assert loose.returncode == 0, loose.stderr
    assert "tolerated" in loose.stderr and "http_5xx ×2" in loose.stderr


def test_check_and_verify_exit_non_zero_when_requests_fail(dyno_home: Path) -> None:
    with hostile_server("500", metrics="prom") as srv:
        check = dyno(dyno_home, "check", srv.url)
        verify = dyno(
            dyno_home, "verify", srv.url, "--baseline", srv.url, "--suite", "lossless", "--limit", "2"
        )
    assert check.returncode == 1 and "http_5xx" in check.stderr and "Traceback" not in check.stderr
    assert verify.returncode == 1 and "4 of 4 measured requests failed: http_5xx ×4" in verify.stderr
    with Store(Settings.from_env().db_path) as store:
        kinds = {r.kind: r.status for r in store.list_runs()}
    assert kinds == {"check": "failed", "verify": "failed"}


def test_an_engine_built_for_another_cpu_is_named_as_such(dyno_home: Path, tmp_path: Path) -> None:
    # llama.cpp builds for the CPU it is built on; a binary carried to a CPU without those
    # instructions dies of SIGILL before it can log why (seen in CI: a cached AVX-512 build on AVX2).
    fake = tmp_path / "llama-server"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "version: 0.6.0 (build 11434, commit x)" >&2; exit 0; fi\n'
        "echo 'load_model: loading model'\n"
        "kill -ILL $$\n"
    )
    fake.chmod(0o755)
    out = dyno(dyno_home, "up", "smollm2-llama", "--llama-server", str(fake))
    assert out.returncode != 0
    said = out.stderr + out.stdout
    assert "exit code -4" in said and "illegal instruction" in said and "another CPU" in said, said
    assert read_state(Settings(dyno_home)) is None
