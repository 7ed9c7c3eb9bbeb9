"""Real signals to a real `dyno bench`: SIGTERM and SIGHUP behave like Ctrl-C; SIGKILL leaves an abandoned run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dyno.settings import Settings
from dyno.store import Store
from tests.conftest import default_sigint
from tests.fixtures.pacing import StartPacing


def start_bench(home: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DYNO_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "dyno.cli", "bench", url, "--suite", "quick"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def wait_for_requests(db: Path, n: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db.exists():
            with Store(db) as store:
                rid = store.latest_run_id()
                if rid is not None and len(store.requests(rid)) >= n:
                    return rid
        time.sleep(0.1)
    raise AssertionError(f"no run with {n} stored requests within {timeout_s} s")


@pytest.mark.parametrize(
    ("sig", "code", "name"),
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP"), (signal.SIGINT, 130, "Ctrl-C")],
)
def test_a_signal_closes_the_run_partial_with_its_rows_and_exits_128_plus_n(
    pacing_server: StartPacing, dyno_home: Path, sig: signal.Signals, code: int, name: str
) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.01)  # a 128-token decode takes ~1.3 s
    proc = start_bench(dyno_home, srv.url)
    db = Settings.from_env().db_path
    rid = wait_for_requests(db, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert name in err and "stored as partial" in err and "Traceback" not in err
    with Store(db) as store:
        run = store.get_run(rid)
        assert run is not None and run.status == "partial"
        assert run.note is not None and name in run.note
        assert len([r for r in store.requests(rid) if r.ok]) >= 2


def test_a_killed_dyno_leaves_a_run_that_the_next_open_calls_abandoned(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.01)
    proc = start_bench(dyno_home, srv.url)
    db = Settings.from_env().db_path
    rid = wait_for_requests(db, 2)
    proc.kill()  # SIGKILL: no handler runs, the run row stays 'running'
    proc.communicate(timeout=30)
    env = {**os.environ, "DYNO_HOME": str(dyno_home), "COLUMNS": "200"}
    runs = subprocess.run(
        [sys.executable, "-m", "dyno.cli", "runs"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "abandoned" in runs.stdout and "running" not in runs.stdout
    with Store(db) as store:
        run = store.get_run(rid)
        assert run is not None and run.status == "abandoned"
        assert run.note is not None and f"pid {proc.pid}" in run.note
        assert len([r for r in store.requests(rid) if r.ok]) >= 2  # finished rows kept


def test_a_live_run_is_not_called_abandoned(pacing_server: StartPacing, dyno_home: Path) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.01)
    proc = start_bench(dyno_home, srv.url)
    db = Settings.from_env().db_path
    rid = wait_for_requests(db, 1)
    try:
        with Store(db) as store:  # opening the store while the bench writes must not close its run
            run = store.get_run(rid)
            assert run is not None and run.status == "running"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
