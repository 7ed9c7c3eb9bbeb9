"""--workers N: the load spread over processes; the coordinator stores every row, even when a worker dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from dyno.bench.runner import run_bench
from dyno.bench.scenarios.workload import Workload
from dyno.engine.target import TargetSpec
from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.shapes import Lengths
from tests.fixtures.pacing import StartPacing


def tag(text: str) -> str | None:
    return next((w for w in text.split() if w.startswith("chatcmpl-")), None)


def test_two_workers_send_the_same_load_and_every_row_reaches_the_store(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.002, tag_words=True)
    s = Settings.from_env()
    w = Workload(levels=(4,), requests=20, output_tokens=Lengths("fixed", 16))
    with Store(s.db_path) as store:
        res = run_bench(s, store, [w], TargetSpec(srv.url), suite="workload", workers=2)
        reqs = [r for r in store.requests(res.run_id) if r.label == "c4"]
    assert res.status == "complete" and res.tally.failed == 0
    assert sorted(r.seq for r in reqs) == list(range(20))
    assert all(r.t_intended_ns is not None and r.t_sent_ns >= r.t_intended_ns for r in reqs)
    served = {x.id for x in srv.sent_log if x.finished}
    assert {tag(r.output_text) for r in reqs} <= served


def test_a_worker_that_dies_loses_no_finished_row(pacing_server: StartPacing, dyno_home: Path) -> None:
    srv = pacing_server(ttft_s=0.02, itl_s=0.01, tag_words=True)  # 32 tokens: ~0.35 s a request
    env = {**os.environ, "DYNO_HOME": str(dyno_home)}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "dyno.cli", "bench", srv.url, "--workers", "2", "--concurrency", "4",
            "--requests", "60", "--output-tokens", "32",
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    db = Settings.from_env().db_path
    deadline = time.monotonic() + 60
    workers: list[psutil.Process] = []
    while time.monotonic() < deadline:
        workers = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
        if len(workers) == 2 and db.exists():
            with Store(db) as store:
                rid = store.latest_run_id()
                if rid is not None and len([r for r in store.requests(rid) if r.label == "c4"]) >= 8:
                    break
        time.sleep(0.05)
    victim = workers[1]
    victim.send_signal(signal.SIGKILL)
    t_kill = time.perf_counter_ns()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "a worker died" in err and "Traceback" not in err
    with Store(db) as store:
        rid = store.latest_run_id() or 0
        run = store.get_run(rid)
        stored = {tag(r.output_text) for r in store.requests(rid) if r.ok}
    assert run is not None and run.status == "partial"
    # Every request the server had finished well before the kill is stored, the dead worker's included.
    done_before = {
        x.id for x in srv.sent_log if x.finished and x.chunks and x.chunks[-1].t_ns < t_kill - 200_000_000
    }
    assert done_before and done_before <= stored
