"""dyno bench end to end against the pacing test server: figures, faults, partial runs, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dyno.bench import suites
from dyno.bench.runner import run_bench
from dyno.bench.scenario import Scenario
from dyno.bench.scenarios.sessions import Sessions
from dyno.bench.scenarios.workload import Workload
from dyno.bench.summary import summarize_run
from dyno.client.records import RequestRecord
from dyno.engine.target import TargetSpec
from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.sessions import SessionSpec
from dyno.workloads.shapes import Lengths
from tests.conftest import default_sigint
from tests.fixtures.pacing import StartPacing


def test_quick_suite_recovers_the_servers_pace_and_its_token_counts(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.03, itl_s=0.004)
    s = Settings.from_env()
    with Store(s.db_path) as store:
        res = run_bench(s, store, suites.select("quick"), TargetSpec(srv.url))
        rep = summarize_run(store, res.run_id)
        run = store.get_run(res.run_id)
    assert res.status == "complete" and run is not None and run.status == "complete"
    assert [(x.name, x.status) for x in rep.scenarios] == [
        ("decode", "complete"),
        ("ttft", "complete"),
        ("concurrency", "complete"),
    ]
    assert rep.warnings == []
    for x in rep.scenarios:
        assert x.tokens.metrics_tokens == x.tokens.usage_tokens > 0
    rows = {(r.scenario, r.label, r.metric): r for x in rep.scenarios for r in x.rows}
    decode = rows[("decode", "128", "decode_tok_s")]
    assert decode.mean is not None and 0.5 / 0.004 < decode.mean < 1.05 / 0.004  # ~250 tok/s, never above
    ttft = rows[("ttft", "short", "ttft_ms")]
    assert ttft.mean is not None and ttft.mean >= 30


class KillAfter:
    """A store that kills the server once `n` requests have been stored."""

    def __init__(self, store: Store, srv: Any, n: int) -> None:
        self.store, self.srv, self.n, self.seen = store, srv, n, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def add_request(self, run_id: int, r: RequestRecord) -> int:
        out = self.store.add_request(run_id, r)
        self.seen += 1
        if self.seen == self.n:
            self.srv.kill()
        return out


def test_server_killed_mid_run_keeps_every_finished_request(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.002)
    s = Settings.from_env()
    with Store(s.db_path) as store:
        sink = KillAfter(store, srv, 3)
        res = run_bench(s, sink, suites.select("quick"), TargetSpec(srv.url))  # type: ignore[arg-type]
        run = store.get_run(res.run_id)
        reqs = store.requests(res.run_id)
        scen = {x.name: x.status for x in store.scenarios(res.run_id)}
    assert res.status == "partial" and run is not None and run.status == "partial"
    assert "stopped answering" in res.message and "finished requests are stored" in res.message
    assert sum(r.ok for r in reqs) == 3  # the three that finished before the kill, all kept
    assert not reqs[-1].ok and reqs[-1].error_kind in ("connect", "stream_broken", "http")
    assert scen == {"decode": "partial"}
    assert res.scenario_status == {"decode": "partial", "ttft": "skipped", "concurrency": "skipped"}


@pytest.mark.parametrize(
    "fault",
    [
        {"malformed": "bad_json"},
        {"malformed": "no_data_prefix"},
        {"malformed": "truncated"},
        {"fail_status": 500},
    ],
)
def test_bad_streams_are_recorded_per_request_and_the_run_ends_failed(
    pacing_server: StartPacing, dyno_home: Path, fault: dict[str, Any]
) -> None:
    srv = pacing_server(ttft_s=0.005, itl_s=0.001, **fault)
    s = Settings.from_env()
    with Store(s.db_path) as store:
        res = run_bench(s, store, suites.select("quick", ["decode"], repeat=2), TargetSpec(srv.url))
        reqs = store.requests(res.run_id)
    assert res.status == "failed"  # every measured request failed (the suite still ran through)
    assert len(reqs) == 3 and not any(r.ok for r in reqs)
    want = "http_5xx" if "fail_status" in fault else "malformed_stream"
    assert {r.error_kind for r in reqs} == {want}


def test_ctrl_c_stores_the_partial_run(pacing_server: StartPacing, dyno_home: Path) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.01)  # a 128-token decode takes ~1.3 s
    env = {**os.environ, "DYNO_HOME": str(dyno_home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dyno.cli", "bench", srv.url, "--suite", "quick"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    db = Settings.from_env().db_path
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists():
            with Store(db) as store:
                rid = store.latest_run_id()
                if rid is not None and len(store.requests(rid)) >= 2:
                    break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stored as partial" in err and "Traceback" not in err
    with Store(db) as store:
        rid = store.latest_run_id()
        assert rid is not None
        run = store.get_run(rid)
        assert run is not None and run.status == "partial"
        assert len([r for r in store.requests(rid) if r.ok]) >= 2


def test_a_report_opens_with_the_figures_asked_for_and_what_limits_them(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    from dyno.report.html import report_html
    from dyno.report.render import to_markdown

    # One request at a time: 4 streams carry no more than 1 did. A model the catalog knows, on hardware
    # it knows, so the decode figure has its roofline.
    srv = pacing_server(ttft_s=0.03, itl_s=0.004, slots=1, model="smollm2-135m-instruct")
    s = Settings.from_env()
    with Store(s.db_path) as store:
        res = run_bench(s, store, suites.select("quick"), TargetSpec(srv.url, hardware="gb10"))
        md = to_markdown(summarize_run(store, res.run_id))
        page = report_html(store, res.run_id)
    head = md.split("| engine")[0]
    assert "**decode, 1 stream, 128 tokens**" in head and "roofline" in head
    assert "**TTFT, short prompt (p50)**" in head and "**concurrency: throughput at 4**" in head
    assert "the total does not grow" in head
    assert page.index("<h2>Headline</h2>") < page.index("<h2>Provenance</h2>")


@pytest.mark.parametrize(
    "load",
    [
        Workload(
            levels=(2,), requests=20, input_tokens=Lengths("fixed", 8), output_tokens=Lengths("fixed", 4)
        ),
        Workload(
            mode="rate",
            levels=(50.0,),
            requests=20,
            input_tokens=Lengths("fixed", 8),
            output_tokens=Lengths("fixed", 4),
        ),
        Sessions(spec=SessionSpec(2, Lengths("fixed", 6)), input_tokens=Lengths("fixed", 8)),
    ],
    ids=["concurrent", "rate", "sessions"],
)
def test_a_server_killed_under_a_concurrent_load_leaves_a_partial_run(
    pacing_server: StartPacing, dyno_home: Path, load: Scenario
) -> None:
    # Requests in flight fail together when the server dies; each raises "stopped answering" in
    # its own task, and the run must say so (partial, exit 1), not "scenario failed" and complete.
    srv = pacing_server(ttft_s=0.01, itl_s=0.002)
    s = Settings.from_env()
    with Store(s.db_path) as store:
        res = run_bench(s, KillAfter(store, srv, 4), [load], TargetSpec(srv.url))  # type: ignore[arg-type]
        scen = {x.name: x.status for x in store.scenarios(res.run_id)}
        reqs = store.requests(res.run_id)
    assert res.status == "partial" and res.exit_code == 1, (res.message, scen)
    assert sum(r.ok for r in reqs) >= 4  # what finished before the kill is kept
