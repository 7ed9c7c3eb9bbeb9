"""How true are the timings a load generator reports? dyno, `vllm bench serve` and GuideLLM against a server
that logs what it really did.

The pacing test server (tests/fixtures/pacing_server.py) runs in its own
process and logs, on CLOCK_MONOTONIC (perf_counter_ns, one clock for every
process on the box), when it had read each request and when it wrote each
content chunk. It tags each response (its first word is the response id), so
every tool's records can be matched to the server's. The role-only first
chunk is off, so "first chunk" and "first content" are the same for every tool.

Each tool runs the same workload as a real command line (256 prompt tokens
asked, 128 output tokens with ignore_eos, N streams kept in flight) at 1, 16
and 64 streams. For each tool and level it prints:
- TTFT error p50/p99 (ms): the tool's TTFT minus the server's (request read ->
  first content written), for the same request;
- chunk lag p99 (ms): when the tool saw a content chunk minus when the server
  wrote it (dyno: stored per-chunk times; vllm bench serve: start + ttft +
  cumulative itls, all perf_counter; GuideLLM stores no per-chunk times: n/a);
- CPU seconds per 1M streamed tokens: the tool process's user+system time,
  start-up included, over the tokens the server sent it.

dyno runs on uvloop (its default where installed), on asyncio
(DYNO_EVENT_LOOP=asyncio), and with the load spread over 2 worker processes
(`--workers 2`). GuideLLM lives in a side venv this script creates
once (.venv-guidellm: CPU torch first, then guidellm 0.8.1) and reuses;
`--no-guidellm` skips it. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/timing_truth.py [--levels 1,16,64] [--tokens 128] [--no-guidellm]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from dyno.engine.models import fetch  # noqa: E402
from dyno.settings import Settings  # noqa: E402
from dyno.store import Store  # noqa: E402
from tests.fixtures.pacing_server import PacingConfig, PacingServer  # noqa: E402

MODEL = "pacing-model"
BIN = Path(sys.executable).parent
GUIDELLM_VENV = ROOT / ".venv-guidellm"
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
}


# ---- the server, in its own process -----------------------------------------------------------


def serve_child(cfg: PacingConfig) -> None:
    with PacingServer(cfg) as srv:
        print(srv.url, flush=True)
        for line in sys.stdin:
            if line.strip() != "log":
                break
            log = [
                {
                    "id": r.id,
                    "received": r.t_received_ns,
                    "content": [c.t_ns for c in r.content_chunks],
                }
                for r in srv.sent_log
                if r.stream
            ]
            print(json.dumps(log), flush=True)


class Server:
    def __init__(self, cfg: PacingConfig) -> None:
        args = [sys.executable, __file__, "--serve", json.dumps(asdict(cfg))]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def log(self) -> dict[str, dict[str, Any]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("log\n")
        self.proc.stdin.flush()
        return {e["id"]: e for e in json.loads(self.proc.stdout.readline())}

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


# ---- what each tool saw, matched to the server --------------------------------------------------


@dataclass
class Seen:
    """One tool at one level, per request: server id, TTFT ms, sent ns, chunk receive times (or None)."""

    tool: str
    streams: int
    cpu_s: float = 0.0
    requests: list[tuple[str, float, int | None, list[int] | None]] = field(default_factory=list)
    note: str = ""


def tagged(text: str) -> str | None:
    for word in text.split():
        if word.startswith(("chatcmpl-", "cmpl-")):
            return word
    return None


def run_timed(
    cmd: list[str], env: dict[str, str], cwd: Path
) -> tuple[float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, out


def dyno_run(
    url: str,
    streams: int,
    n: int,
    tokens: int,
    loop: str,
    work: Path,
    workers: int = 1,
    before: str | None = None,
) -> Seen:
    home = Path(tempfile.mkdtemp(prefix="dyno-tt-", dir=work))
    env = {**os.environ, "DYNO_HOME": str(home), "DYNO_EVENT_LOOP": loop}
    if before is not None:
        # An older dyno (its src/ on PYTHONPATH), with the load it had: waves of `streams` released
        # together (the concurrency scenario), 128 output tokens each.
        env["PYTHONPATH"] = before
        cmd = [sys.executable, "-m", "dyno.cli", "bench", url, "--scenario", "concurrency"]
        cmd += ["--concurrency", str(streams), "--repeat", str(max(1, n // streams)), "--format", "json"]
        label = "dyno (before)"
    else:
        cmd = [str(BIN / "dyno"), "bench", url, "--concurrency", str(streams), "--requests", str(n)]
        cmd += ["--input-tokens", "256", "--output-tokens", str(tokens), "--format", "json"]
        cmd += ["--workers", str(workers)]
        label = f"dyno ({loop})" if workers == 1 else f"dyno ({workers} workers)"
    cpu, out = run_timed(cmd, env, work)
    seen = Seen(label, streams, cpu)
    if out.returncode != 0:
        seen.note = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
    with Store(home / "dyno.db") as store:
        rid = store.latest_run_id() or 0
        for r in store.requests(rid):
            tag = tagged(r.output_text)
            if r.label == "warmup" or not r.ok or tag is None or r.t_first_content_ns is None:
                continue
            content = [c.t_ns for c in r.chunks if c.kind != "empty"]
            seen.requests.append((tag, (r.t_first_content_ns - r.t_sent_ns) / 1e6, r.t_sent_ns, content))
    return seen


def vllm_run(url: str, streams: int, n: int, tokens: int, tokenizer: Path, work: Path) -> Seen:
    out_dir = Path(tempfile.mkdtemp(prefix="vllm-tt-", dir=work))
    cmd = [
        str(BIN / "vllm"), "bench", "serve", "--backend", "openai-chat", "--base-url", url,
        "--endpoint", "/v1/chat/completions", "--model", MODEL, "--tokenizer", str(tokenizer),
        "--dataset-name", "random", "--random-input-len", "256", "--random-output-len", str(tokens),
        "--num-prompts", str(n), "--max-concurrency", str(streams), "--request-rate", "inf",
        "--ignore-eos", "--save-result", "--save-detailed", "--result-dir", str(out_dir),
        "--result-filename", "r.json", "--disable-tqdm", "--seed", "0",
    ]  # fmt: skip
    cpu, out = run_timed(cmd, {**os.environ, **OFFLINE}, work)
    seen = Seen("vllm bench serve", streams, cpu)
    try:
        doc = json.loads((out_dir / "r.json").read_text())
    except OSError:
        seen.note = (out.stderr.strip().splitlines() or ["no result"])[-1][:160]
        return seen
    for text, ttft, itls, start in zip(
        doc["generated_texts"], doc["ttfts"], doc["itls"], doc["start_times"], strict=False
    ):
        tag = tagged(text or "")
        if tag is None or not ttft:
            continue
        t = start + ttft
        times = [int(t * 1e9)]
        for gap in itls:
            t += gap
            times.append(int(t * 1e9))
        seen.requests.append((tag, ttft * 1000, int(start * 1e9), times))
    return seen


def guidellm_ready() -> Path | None:
    exe = GUIDELLM_VENV / "bin" / "guidellm"
    if exe.exists():
        return exe
    print("creating .venv-guidellm (CPU torch first, then guidellm 0.8.1) ...", flush=True)
    py = sys.executable
    steps = [
        [py, "-m", "venv", str(GUIDELLM_VENV)],
        [str(GUIDELLM_VENV / "bin" / "pip"), "install", "-q", "torch==2.13.0"],
        [str(GUIDELLM_VENV / "bin" / "pip"), "install", "-q", "guidellm==0.8.1"],
    ]
    for s in steps:
        if subprocess.run(s).returncode != 0:
            print(f"  failed: {' '.join(s)}")
            return None
    return exe if exe.exists() else None


def guidellm_run(exe: Path, url: str, streams: int, n: int, tokens: int, tokenizer: Path, work: Path) -> Seen:
    out = Path(tempfile.mkdtemp(prefix="guidellm-tt-", dir=work)) / "g.json"
    cmd = [
        str(exe), "run",
        "--backend", f"kind=openai_http,target={url},model={MODEL},validate_backend=false",
        "--profile", f"kind=concurrent,streams={streams}",
        "--constraint", f"kind=max_requests,count={n}",
        "--data", f"kind=synthetic_text,prompt_tokens=256,output_tokens={tokens}",
        "--tokenizer", f"kind=huggingface_auto,model={tokenizer}",
        "--output", f"kind=json,path={out}", "--disable-console-interactive",
    ]  # fmt: skip
    cpu, res = run_timed(cmd, {**os.environ, **OFFLINE}, work)
    seen = Seen("GuideLLM", streams, cpu)
    try:
        doc = json.loads(out.read_text())
    except OSError:
        seen.note = (res.stderr.strip().splitlines() or ["no result"])[-1][:160]
        return seen
    for bench in doc.get("benchmarks", []):
        for req in (bench.get("requests") or {}).get("successful", []):
            rid = req.get("response_id")
            ttft = req.get("time_to_first_token_ms")
            if rid and ttft is not None:
                seen.requests.append((rid, float(ttft), None, None))
    return seen


# ---- figures ------------------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] if len(xs) > 1 else xs[0]


def figures(seen: Seen, log: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """TTFT error = request path (tool sent -> server has read it) + first-chunk lag (server wrote the
    first content -> tool saw it). The server's own read of a request counts in the first."""
    ttft_err, lags, path, first, tokens = [], [], [], [], 0
    for tag, ttft_ms, sent, times in seen.requests:
        srv = log.get(tag)
        if srv is None or not srv["content"]:
            continue
        tokens += len(srv["content"])
        ttft_err.append(ttft_ms - (srv["content"][0] - srv["received"]) / 1e6)
        if sent is not None:
            path.append((srv["received"] - sent) / 1e6)
        if times is not None:
            chunk_lags = [(got - out) / 1e6 for got, out in zip(times, srv["content"], strict=False)]
            lags += chunk_lags
            first += chunk_lags[:1]
    return {
        "matched": float(len(ttft_err)),
        "ttft_p50": pct(ttft_err, 50),
        "ttft_p99": pct(ttft_err, 99),
        "path_p99": pct(path, 99),
        "first_p99": pct(first, 99),
        "lag_p99": pct(lags, 99),
        "cpu_per_1m": seen.cpu_s / tokens * 1e6 if tokens else None,
    }


def cell(x: float | None, spec: str = "7.2f") -> str:
    return format(x, spec) if x is not None else "      -"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--levels", default="1,16,64")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--ttft-ms", type=float, default=50.0)
    ap.add_argument("--itl-ms", type=float, default=10.0)
    ap.add_argument("--no-guidellm", action="store_true")
    ap.add_argument("--no-vllm", action="store_true")
    ap.add_argument("--dyno-before", help="src/ of an older dyno checkout, measured as it was (no new knobs)")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_child(PacingConfig(**json.loads(args.serve)))
        return

    cfg = PacingConfig(
        ttft_s=args.ttft_ms / 1e3,
        itl_s=args.itl_ms / 1e3,
        send_role_chunk=False,
        tag_words=True,
        max_model_len=1 << 20,
        model=MODEL,
    )
    work = Path(tempfile.mkdtemp(prefix="timing-truth-"))
    tokenizer = fetch(Settings.from_env(), "smollm2-135m-instruct").path  # a local HF tokenizer folder
    guidellm = None if args.no_guidellm else guidellm_ready()
    levels = [int(x) for x in args.levels.split(",")]
    print(
        f"pacing server in its own process: TTFT {args.ttft_ms:g} ms, ITL {args.itl_ms:g} ms, "
        f"{args.tokens} tokens; requests per level = max(16, 4 x streams)"
    )
    head = f"{'tool':22} {'streams':>7} {'matched':>7}  {'TTFT err p50':>12} {'p99':>7}  {'path p99':>8}"
    print(head + f"  {'1st p99':>7}  {'lag p99':>7}  CPU s/1M tok")
    for streams in levels:
        n = max(16, 4 * streams)
        runs = []
        if args.dyno_before:
            srv = Server(cfg)
            runs.append(
                (dyno_run(srv.url, streams, n, args.tokens, "asyncio", work, before=args.dyno_before), srv)
            )
        for loop in ("uvloop", "asyncio"):
            srv = Server(cfg)
            runs.append((dyno_run(srv.url, streams, n, args.tokens, loop, work), srv))
        if streams > 1:
            srv = Server(cfg)
            runs.append((dyno_run(srv.url, streams, n, args.tokens, "uvloop", work, workers=2), srv))
        if not args.no_vllm:
            srv = Server(cfg)
            runs.append((vllm_run(srv.url, streams, n, args.tokens, tokenizer, work), srv))
        if guidellm is not None:
            srv = Server(cfg)
            runs.append((guidellm_run(guidellm, srv.url, streams, n, args.tokens, tokenizer, work), srv))
        for seen, srv in runs:
            f = figures(seen, srv.log())
            srv.close()
            print(
                f"{seen.tool:22} {streams:7d} {int(f['matched'] or 0):7d}  {cell(f['ttft_p50']):>12} "
                f"{cell(f['ttft_p99'])}  {cell(f['path_p99'], '8.2f')}  {cell(f['first_p99'])}  "
                f"{cell(f['lag_p99'])}  {cell(f['cpu_per_1m'], '9.1f')}"
                + (f"   ({seen.note})" if seen.note else ""),
                flush=True,
            )
        time.sleep(0.5)


if __name__ == "__main__":
    main()
