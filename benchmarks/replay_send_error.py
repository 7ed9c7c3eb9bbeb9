"""Replay send-time error: how far from the trace's own clock `dyno bench --trace` puts each request.

Replays the head of a public Mooncake trace (tests/fixtures/traces/, the first 40 lines of
FAST25-release/traces/conversation_trace.jsonl) through the real CLI against the pacing test server
in its own process (TTFT 5 ms, 1 ms a token, a roomy 16-token-block prefix cache), so the server
never holds a request back and what is measured is dyno's dispatch alone. For each request: the
intended send time (first request's intended time + (timestamp - first timestamp) x time scale)
against the moment its last byte hit the socket. Prints p50 / p99 / max of that error in ms, the
error of the intended times themselves against the trace (0 unless the schedule is wrong), and the
measured cache hit rate beside the bound. Asserts nothing.

    .venv/bin/python benchmarks/replay_send_error.py [--time-scale 0.1] [--length-scale 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from dyno.bench.summary import summarize_run  # noqa: E402
from dyno.catalog.isa import cpu_model, isa_flags  # noqa: E402
from dyno.store import Store  # noqa: E402
from dyno.workloads.traces import load_trace  # noqa: E402

TRACE = ROOT / "tests" / "fixtures" / "traces" / "mooncake_conversation_head40.jsonl"
SERVER = {"ttft_s": 0.005, "itl_s": 0.001, "prefix_cache_blocks": 100_000, "block_tokens": 16}


def quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-scale", type=float, default=0.1)
    ap.add_argument("--length-scale", type=float, default=0.05)
    ap.add_argument("--output-tokens", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.pacing_server", json.dumps(SERVER)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DYNO_HOME": home}
        subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "dyno"),
                "bench",
                f"http://127.0.0.1:{port}",
                "--trace",
                str(TRACE),
                "--time-scale",
                str(args.time_scale),
                "--length-scale",
                str(args.length_scale),
                "--output-tokens",
                str(args.output_tokens),
                "--workers",
                str(args.workers),
                "--format",
                "json",
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        server.stdin.close()  # type: ignore[union-attr]
        server.wait()
        store = Store(Path(home) / "dyno.db")
        run_id = store.latest_run_id()
        assert run_id is not None
        reqs = sorted((r for r in store.requests(run_id) if r.label == "replay"), key=lambda r: r.seq)
        (scenario,) = summarize_run(store, run_id).scenarios
        rows = {r.metric: r.mean for r in scenario.rows}
        lines = {s.name: s.facts for s in store.scenarios(run_id)}["replay"]["lines"]
        store.close()
    ts = {r.line: r.timestamp_ms for r in load_trace(TRACE).requests}
    due = [ts[lines[r.seq]] for r in reqs]  # each request's trace timestamp, by its line
    t0 = min(r.t_intended_ns or 0 for r in reqs)
    schedule_err = [
        abs((r.t_intended_ns or 0) - t0 - (d - min(due)) * args.time_scale * 1e6) / 1e6
        for r, d in zip(reqs, due, strict=True)
    ]
    burst = max(due.count(d) for d in due)
    send_err = [(r.t_sent_ns - (r.t_intended_ns or r.t_sent_ns)) / 1e6 for r in reqs]
    print(
        f"CPU: {cpu_model()} ({', '.join(isa_flags() or ())}), {os.cpu_count()} cores; "
        f"{len(reqs)} requests, time scale {args.time_scale:g}, {args.workers} worker(s); "
        f"the largest burst: {burst} requests due at one instant"
    )
    print(
        f"send-time error (sent - intended), ms: p50 {quantile(send_err, 0.5):.2f}  "
        f"p99 {quantile(send_err, 0.99):.2f}  max {max(send_err):.2f}"
    )
    print(f"schedule error (intended vs trace x scale), ms: max {max(schedule_err):.6f}")
    print(
        f"cache hit rate: measured {rows.get('cache_hit_rate')}, bound {rows.get('cache_hit_rate_bound')}, "
        f"trace's own {rows.get('cache_hit_rate_trace')}"
    )


if __name__ == "__main__":
    main()
