"""The workload scenario against the pacing server: sustained concurrency, rate loads, wire timestamps,
intended send times and the server's own timing."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

from dyno.bench.runner import run_bench
from dyno.bench.scenarios.workload import Workload
from dyno.bench.summary import summarize_run
from dyno.client import derive
from dyno.engine.target import TargetSpec
from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.shapes import Lengths
from tests.fixtures.pacing import StartPacing


def run(srv_url: str, w: Workload) -> tuple[int, Store]:
    s = Settings.from_env()
    store = Store(s.db_path)
    res = run_bench(s, store, [w], TargetSpec(srv_url), suite="workload")
    return res.run_id, store


def test_sustained_concurrency_keeps_n_requests_in_flight(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.02, itl_s=0.002)
    rid, store = run(srv.url, Workload(levels=(4,), requests=24, output_tokens=Lengths("fixed", 32)))
    reqs = store.requests(rid)
    store.close()
    assert len([r for r in reqs if r.label == "c4" and r.ok]) == 24
    # From the server's own log: how many requests it was serving at each arrival.
    spans = [(r.t_received_ns, r.chunks[-1].t_ns) for r in srv.sent_log if r.chunks][1:]  # not the warm-up
    in_flight = [sum(1 for a, b in spans if a <= t < b) for t, _ in spans]
    assert max(in_flight) == 4 and sorted(in_flight)[len(in_flight) // 2] >= 3


def test_a_rate_load_stores_intended_times_and_dispatch_delay(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.001)
    w = Workload(
        mode="rate", levels=(40.0,), requests=40, output_tokens=Lengths("fixed", 8), arrival="constant"
    )
    rid, store = run(srv.url, w)
    reqs = [r for r in store.requests(rid) if r.label == "r40"]
    rep = summarize_run(store, rid)
    store.close()
    assert len(reqs) == 40 and all(r.t_intended_ns is not None for r in reqs)
    intended = sorted(r.t_intended_ns or 0 for r in reqs)
    gaps_ms = [(b - a) / 1e6 for a, b in itertools.pairwise(intended)]
    assert all(abs(g - 25.0) < 0.01 for g in gaps_ms)  # the schedule, exactly: 1/40 s apart
    delays = [derive.dispatch_delay_ms(r) for r in reqs]
    assert all(d is not None and d >= 0 for d in delays), min(d or 0 for d in delays)
    for r in reqs:  # latency from intended counts what latency from sent does not
        assert (derive.ttft_from_intended_ms(r) or 0) >= (derive.ttft_ms(r) or 0)
    figures = {r.metric for s in rep.scenarios for r in s.rows}
    assert {"dispatch_delay_ms", "ttft_from_intended_ms", "throughput_req_s", "output_tok_s"} <= figures


def test_sent_is_stamped_at_the_wire_and_the_server_reads_it_after(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.03, itl_s=0.002, per_request_metrics=True)
    rid, store = run(srv.url, Workload(levels=(2,), requests=6, output_tokens=Lengths("fixed", 16)))
    reqs = [r for r in store.requests(rid) if r.label == "c2"]
    rep = summarize_run(store, rid)
    store.close()
    received = sorted(x.t_received_ns for x in srv.sent_log)
    for r in reqs:
        # perf_counter_ns is CLOCK_MONOTONIC: the same clock in the server's thread and the client.
        # An order, not a bound: the server read it after it left and before its first token came back.
        assert r.t_first_content_ns is not None
        assert any(r.t_sent_ns <= t <= r.t_first_content_ns for t in received)
        assert r.server_timing is not None and r.server_timing["source"] == "vllm"
        overhead = derive.client_overhead_ms(r)
        assert overhead is not None and overhead > -1.0  # the client cannot see the token before it is sent
    rows = {r.metric: r for s in rep.scenarios for r in s.rows if r.label == "c2"}
    assert rows["server_ttft_ms"].median is not None and 25 < rows["server_ttft_ms"].median < 60


def test_the_cli_knobs_end_to_end(pacing_server: StartPacing, dyno_home: Path, tmp_path: Path) -> None:
    srv = pacing_server(ttft_s=0.005, itl_s=0.001)
    data = tmp_path / "mine.jsonl"
    data.write_text('{"prompt": "one two three"}\n{"messages": [{"role": "user", "content": "four five"}]}\n')
    env = {**os.environ, "DYNO_HOME": str(dyno_home), "COLUMNS": "200"}
    out = subprocess.run(
        [
            sys.executable, "-m", "dyno.cli", "bench", srv.url, "--dataset", str(data), "--rate", "20,40",
            "--requests", "10", "--output-tokens", "normal:12,3", "--seed", "5", "--format", "md",
        ],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "### workload (complete)" in out.stdout and "| figure | r20 | r40 |" in out.stdout
    assert "dispatch delay (ms) p50 / p99" in out.stdout


def test_an_slo_judges_each_sustained_level_over_its_steady_window(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    """3 slots: at 2 streams nobody queues, at 4 one request in four waits a whole request (70 ms)
    for its first token; the objective sits between (unqueued 10 ms, queued ~80 ms)."""
    srv = pacing_server(ttft_s=0.01, itl_s=0.004, slots=3)
    w = Workload(levels=(2, 4), requests=40, output_tokens=Lengths("fixed", 16), slo=("ttft_ms<=35",))
    rid, store = run(srv.url, w)
    rep = summarize_run(store, rid)
    reqs = store.requests(rid)
    scenario = store.scenarios(rid)[0]
    store.close()
    sc = rep.scenario("workload")
    assert sc is not None
    att = {r.label: r for r in sc.rows if r.metric == "slo_attainment"}
    assert att["c2"].mean == 1.0 and att["c2"].interval is not None and att["c2"].interval[1] == 1.0
    c4 = att["c4"]
    assert c4.mean is not None and c4.interval is not None and c4.interval[1] < 0.95
    # Ramp-up and drain are left out: at 4 streams the first 3 sent and the last 3 to finish.
    c4_reqs = [r for r in reqs if r.label == "c4"]
    assert c4.n == len(c4_reqs) - 6
    steady = {r.label: r.mean for r in sc.rows if r.metric == "steady_s"}
    span = derive.span_s(c4_reqs)
    assert steady["c4"] is not None and span is not None and 0 < steady["c4"] < span
    goodput = {r.label: r.mean for r in sc.rows if r.metric == "goodput_req_s"}
    assert goodput["c4"] is not None and goodput["c2"] is not None
    # The SLO judges a run; it is not part of the load, so runs with and without one still compare.
    assert "slo" not in scenario.config and scenario.facts["slo"] == ["ttft_ms<=35"]


def test_an_slo_on_a_run_without_load_levels_is_a_usage_error(dyno_home: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dyno.cli",
            "bench",
            "http://127.0.0.1:9",
            "--scenario",
            "decode",
            "--slo",
            "ttft_ms<=5",
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    assert r.returncode == 2 and "--slo judges load levels" in r.stderr


def test_compare_shows_attainment_as_a_difference_with_its_interval(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    from dyno.report.compare import build_comparison

    w = Workload(levels=(4,), requests=40, output_tokens=Lengths("fixed", 16), slo=("ttft_ms<=35",))
    tight = pacing_server(ttft_s=0.01, itl_s=0.004, slots=3)  # 1 in 4 queues for its first token
    roomy = pacing_server(ttft_s=0.01, itl_s=0.004, slots=8)  # nobody queues
    base_id, store = run(tight.url, w)
    store.close()
    cand_id, store = run(roomy.url, w)
    c = build_comparison(store, [base_id, cand_id])
    store.close()
    col = next(col for col in c.columns if col.metric == "slo_attainment")
    cell = c.cell(cand_id, col)
    assert cell is not None and cell.difference is not None
    assert cell.difference.low > 0  # more attainment, and the interval says it is no noise
    assert "pts" in cell.text(baseline=False) and "of" in cell.text(baseline=False)
