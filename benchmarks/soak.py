"""Soak: ~10,000 requests at 64 streams through `dyno bench`, watching dyno's open fds and RSS; then the
peak memory of `dyno report` on that run.

The pacing test server (tests/fixtures/pacing_server.py) runs in its own
process with a short schedule (TTFT 5 ms, one token per chunk every 1 ms,
128 tokens), so the run is long in requests, short in time. dyno runs as a
real CLI process (`dyno bench URL --scenario concurrency --concurrency 64
--repeat N`); this script samples that process's open file descriptors and
resident memory twice a second. Then it renders the stored run with
`dyno report RUN --format md` in a child that prints its own peak RSS
(ru_maxrss). Prints figures, among them RSS's slope per request while
the load runs; asserts nothing.

    .venv/bin/python benchmarks/soak.py [--requests 10000] [--streams 64] [--tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from dyno.store import Store  # noqa: E402
from tests.fixtures.pacing_server import PacingConfig, PacingServer  # noqa: E402

REPORT_PEAK = """
import resource, sys
from dyno.cli.main import main
sys.argv = ["dyno", "report", sys.argv[1], "--format", sys.argv[2]]
try:
    main()
except SystemExit:
    pass
finally:
    print(f"PEAK_RSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
"""


def serve_child(cfg: PacingConfig) -> None:
    srv = PacingServer(cfg).start()
    print(srv.url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    srv.stop()


def report_peak_mb(home: Path, run_id: int, fmt: str) -> tuple[float, float, int]:
    env = {**os.environ, "DYNO_HOME": str(home)}
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", REPORT_PEAK, str(run_id), fmt], env=env, capture_output=True, text=True
    )
    wall = time.monotonic() - t0
    peak = next(int(x.split()[1]) for x in out.stderr.splitlines() if x.startswith("PEAK_RSS_KB"))
    return peak / 1024, wall, len(out.stdout.encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_child(PacingConfig(**json.loads(args.serve)))
        return

    cfg = PacingConfig(ttft_s=0.005, itl_s=0.001, default_max_tokens=args.tokens, max_model_len=1 << 20)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", json.dumps(asdict(cfg))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    home = Path(tempfile.mkdtemp(prefix="dyno-soak-"))
    batches = max(1, round(args.requests / args.streams))
    env = {**os.environ, "DYNO_HOME": str(home), "COLUMNS": "200"}
    cmd = [
        sys.executable,
        "-m",
        "dyno.cli",
        "bench",
        url,
        "--scenario",
        "concurrency",
        "--concurrency",
        str(args.streams),
        "--repeat",
        str(batches),
        "--format",
        "json",
    ]
    t0 = time.monotonic()
    bench = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(bench.pid)
    samples: list[tuple[float, int, float]] = []  # (s, fds, rss MB)
    while bench.poll() is None:
        try:
            samples.append((time.monotonic() - t0, proc.num_fds(), proc.memory_info().rss / 2**20))
        except psutil.Error:
            break
        time.sleep(0.5)
    _, err = bench.communicate()
    wall = time.monotonic() - t0
    server.stdin.close()  # type: ignore[union-attr]
    server.wait(timeout=30)

    with Store(home / "dyno.db") as store:
        run_id = store.latest_run_id() or 0
        run = store.get_run(run_id)
    assert run is not None
    print(f"dyno bench: {run.n_requests} requests, {run.n_errors} errors, status {run.status}, {wall:.0f} s")
    print(f"exit code {bench.returncode}; {err.strip().splitlines()[-1] if err.strip() else ''}")
    if samples:
        first, last = samples[min(2, len(samples) - 1)], samples[-1]
        peak_fds = max(s[1] for s in samples)
        peak_rss = max(s[2] for s in samples)
        print(
            f"open fds: {first[1]} at {first[0]:.0f} s, {last[1]} at {last[0]:.0f} s, peak {peak_fds} "
            f"({len(samples)} samples)"
        )
        rss = f"{first[2]:.0f} at {first[0]:.0f} s, {last[2]:.0f} at {last[0]:.0f} s, peak {peak_rss:.0f}"
        print(f"RSS MB:   {rss}")
        # The slope while the load runs: the middle 60% of the samples (start-up and the final
        # report, which reads every stored row back, are excluded), per stored request at the
        # run's mean request rate (the load's own rate is a little higher: start-up is in `wall`).
        mid = [x for x in samples if 0.2 * wall <= x[0] <= 0.8 * wall]
        if len(mid) >= 4 and run.n_requests:
            mb_per_s = float(np.polyfit([x[0] for x in mid], [x[2] for x in mid], 1)[0])
            kb_per_req = mb_per_s * wall / run.n_requests * 1024
            print(
                f"RSS slope during the load: {mb_per_s:.2f} MB/s, {kb_per_req:.2f} KB per request "
                f"({len(mid)} samples from {mid[0][0]:.0f} s to {mid[-1][0]:.0f} s)"
            )
    for fmt in ("md", "json", "html"):
        peak, secs, size = report_peak_mb(home, run_id, fmt)
        out = f"peak RSS {peak:.0f} MB, {secs:.1f} s, {size / 1024:.0f} KiB out"
        print(f"dyno report {run_id} --format {fmt}: {out}")
    print(f"(store: {home / 'dyno.db'}, {(home / 'dyno.db').stat().st_size / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
