"""How accurately dyno's client measures TTFT and ITL, at 1, 16 and 64 concurrent streams.

Runs the pacing test server (tests/fixtures/pacing_server.py) with a known
schedule - first content chunk TTFT after the request is read, then one chunk
every ITL - and measures it with dyno's StreamClient and client.derive, exactly
as `dyno bench` would. For every chunk the server logs when it sent it
(perf_counter_ns, CLOCK_MONOTONIC: one clock for every process on the box), so
each figure dyno reports has two errors:

- vs server:     client-observed minus server-sent, for the same chunk(s).
                 TTFT: client's first-content arrival - server's first-content send.
                 ITL:  client gap - server gap between the same two chunks.
                 This is what the client itself adds (loopback, parsing, its event loop).
- vs configured: client figure minus the configured TTFT / ITL. Adds what the
                 server's own schedule slipped and, for TTFT, the request path
                 (client sent -> server has the request), shown in its own column.

By default the server runs in a child process, as a real engine would; pass
--in-process to run it in a thread of this process (as the tests do) and see
what sharing the GIL costs. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/client_accuracy.py [--tokens 64] [--ttft-ms 100] [--itl-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from dyno.client import (  # noqa: E402
    GenRequest,
    RequestRecord,
    StreamClient,
    derive,
)
from tests.fixtures.pacing_server import PacingConfig, PacingServer  # noqa: E402

LEVELS = (1, 16, 64)
MODEL = "pacing-model"


# ---- the server, here or in a child process ---------------------------------------------------


def log_entries(srv: PacingServer) -> list[dict[str, Any]]:
    return [
        {"user": r.user, "t_received_ns": r.t_received_ns, "content_ns": [c.t_ns for c in r.content_chunks]}
        for r in srv.sent_log
    ]


def serve_child(cfg: PacingConfig) -> None:
    """Child mode: start the server, print its URL; on 'log' print the sent log as JSON."""
    with PacingServer(cfg) as srv:
        print(srv.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "log":
                print(json.dumps(log_entries(srv)), flush=True)
            else:
                break


class Server:
    """The pacing server and a way to read its sent log, in a thread or a child process."""

    def __init__(self, cfg: PacingConfig, *, in_process: bool) -> None:
        self.cfg = cfg
        self._srv: PacingServer | None = None
        self._child: subprocess.Popen[str] | None = None
        if in_process:
            self._srv = PacingServer(cfg).start()
            self.url = self._srv.url
        else:
            args = [sys.executable, __file__, "--serve", json.dumps(asdict(cfg))]
            self._child = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert self._child.stdout is not None
            self.url = self._child.stdout.readline().strip()

    def log(self) -> dict[str, dict[str, Any]]:
        if self._srv is not None:
            entries = log_entries(self._srv)
        else:
            assert self._child is not None and self._child.stdin and self._child.stdout
            self._child.stdin.write("log\n")
            self._child.stdin.flush()
            entries = json.loads(self._child.stdout.readline())
        return {e["user"]: e for e in entries if e["user"]}

    def close(self) -> None:
        if self._srv is not None:
            self._srv.stop()
        if self._child is not None:
            assert self._child.stdin is not None
            self._child.stdin.write("quit\n")
            self._child.stdin.close()
            self._child.wait(10)


# ---- measuring ----------------------------------------------------------------------------------


def request(n: int, user: str) -> GenRequest:
    return GenRequest(
        model=MODEL,
        messages=({"role": "user", "content": "how accurate is the client"},),
        max_tokens=n,
        ignore_eos=True,
        extra={"user": user},
    )


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def measure(url: str, streams: int, waves: int, tokens: int) -> tuple[list[RequestRecord], float]:
    """A warm-up wave (connections, first-use costs), then `waves` waves of `streams` at once."""
    async with StreamClient(url) as client:
        await asyncio.gather(*(client.generate(request(1, f"w{streams}-{i}")) for i in range(streams)))
        records: list[RequestRecord] = []
        c0 = cpu_s()
        for w in range(waves):
            wave = [request(tokens, f"m{streams}-{w}-{i}") for i in range(streams)]
            records += await asyncio.gather(*(client.generate(r) for r in wave))
        return records, cpu_s() - c0


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def p50_p99(xs: list[float]) -> str:
    return f"{pct(xs, 50):7.2f} {pct(xs, 99):7.2f}" if xs else "      -       -"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--ttft-ms", type=float, default=100.0)
    ap.add_argument("--itl-ms", type=float, default=20.0)
    ap.add_argument("--in-process", action="store_true", help="run the server in a thread of this process")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_child(PacingConfig(**json.loads(args.serve)))
        return

    cfg = PacingConfig(ttft_s=args.ttft_ms / 1e3, itl_s=args.itl_ms / 1e3, max_model_len=1 << 20)
    where = "a thread of this process" if args.in_process else "a child process"
    print(
        f"dyno client accuracy: pacing server in {where}, TTFT {args.ttft_ms:g} ms, ITL {args.itl_ms:g} ms, "
        f"{args.tokens} tokens per stream, 1 token per chunk; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print("errors in ms, p50 p99; error = dyno's figure minus the server's send times / the configured value")
    print(
        "request path: client sent -> server has the request; CPU/chunk: this process's CPU per content chunk"
    )
    head = (
        f"{'streams':>7} {'reqs':>5} | {'TTFT vs server':^15} | {'TTFT vs config':^15} | "
        f"{'ITL vs server':^15} | {'ITL vs config':^15} | {'request path':^15} | CPU/chunk"
    )
    print(head)
    print("-" * len(head))
    for streams in LEVELS:
        srv = Server(cfg, in_process=args.in_process)
        try:
            waves = max(1, 64 // streams) if streams < 64 else 2
            waves = min(waves, 8)
            records, cpu = asyncio.run(measure(srv.url, streams, waves, args.tokens))
            log = srv.log()
        finally:
            srv.close()
        ttft_srv, ttft_cfg, itl_srv, itl_cfg, req_path = [], [], [], [], []
        failed = 0
        for rec in records:
            sent = log.get(str(rec.params["user"]))
            cc = derive.content_chunks(rec)
            if not rec.ok or sent is None or len(cc) != len(sent["content_ns"]):
                failed += 1
                continue
            sc: list[int] = sent["content_ns"]
            ttft = derive.ttft_ms(rec)
            assert ttft is not None
            ttft_srv.append((cc[0].t_ns - sc[0]) / 1e6)
            ttft_cfg.append(ttft - args.ttft_ms)
            req_path.append((sent["t_received_ns"] - rec.t_sent_ns) / 1e6)
            for itl, (a, b) in zip(derive.itl_ms(rec), pairwise(sc), strict=True):
                itl_srv.append(itl - (b - a) / 1e6)
                itl_cfg.append(itl - args.itl_ms)
        chunks = sum(len(derive.content_chunks(r)) for r in records)
        cols = [p50_p99(xs) for xs in (ttft_srv, ttft_cfg, itl_srv, itl_cfg, req_path)]
        print(
            f"{streams:>7} {len(records):>5} | "
            + " | ".join(cols)
            + f" | {cpu / max(chunks, 1) * 1e3:.2f} ms"
            + (f"  ({failed} failed or unmatched)" if failed else "")
        )


if __name__ == "__main__":
    main()
