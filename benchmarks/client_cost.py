"""What the benchmark client costs: client CPU-seconds per 1M streamed tokens, dyno vs `vllm bench serve`.

Both tools run as child processes against the same pacing test server
(tests/fixtures/pacing_server.py, in a third process) with the same workload:
N chat requests streamed with a fixed output length (ignore_eos), at most C in
flight at a time (a closed loop: a new request starts when one finishes), a
prompt of a fixed size. The server's pace is fast (TTFT 10 ms, one token every
2 ms) so that the client, not the schedule, sets the pace.

Rows, per concurrency level:

- dyno client     this script in a child process (`--dyno-client`): dyno's
                  StreamClient sends the workload exactly as above and derives
                  TTFT, ITL and decode tok/s per request with dyno.client.derive,
                  as `dyno bench` does; no store, no report.
- dyno bench CLI  `dyno bench URL --suite full --scenario concurrency
                  --concurrency C --repeat N/C` with a throw-away DYNO_HOME: the
                  whole tool (SQLite store, /metrics scrapes, the report). Not
                  the same shape: it releases C requests at once and waits for
                  all of them (waves), sends one 16-token warm-up request,
                  always asks for 256 output tokens and uses its own short
                  salted prompt.
- vllm bench serve  `vllm bench serve --backend openai-chat --dataset-name random
                  --max-concurrency C --request-rate inf --ignore-eos` (vLLM's
                  own client; a semaphore of C, as above).

How to read it:
- tokens: output tokens the server streamed during the run, from its /metrics
  (`vllm:generation_tokens_total` delta), the same truth for every tool.
- CPU s: user + sys CPU time of the tool's process and the children it reaped
  (os.wait4), everything included: Python start-up, imports, tokenizer
  loading, dataset generation, the requests, the final statistics. Nothing is
  subtracted.
- CPU-s/1M tok: CPU s / tokens x 1e6 (= microseconds of client CPU per token).
  The "baseline" rows are each tool doing one request (--baseline-runs times;
  start-up varies by a few tenths of a second): the median one's CPU s is the
  tool's fixed cost. "marginal" is (CPU s - that) / (tokens - its tokens) x 1e6:
  the cost of streaming itself, the figure that matters for a long run. The
  ratios are dyno / vllm bench serve.
- srv CPU/wall: the pacing server's CPU time over the run's wall time; near
  1.0 means the server (one Python process) was saturated and set the wall
  time. CPU per token is still the client's own, but a slower server lets more
  SSE events arrive per socket read, which makes each token cheaper.
- dyno asks for `continuous_usage_stats` (usage on every chunk, so it knows each
  chunk's token count); vllm bench serve does not, so its chunks are smaller.
  That is part of what each tool costs.

Prints figures; asserts nothing.

    .venv/bin/python benchmarks/client_cost.py [--requests 384] [--output-len 256] [--input-len 256]
        [--concurrency 16,64] [--ttft-ms 10] [--itl-ms 2] [--tokenizer PATH] [--baseline-runs 3] [--no-cli]

vllm bench serve needs a local tokenizer folder: by default
$DYNO_HOME/models/smollm2-135m-instruct, made by `dyno models fetch smollm2-135m-instruct`.
"""

# Only the standard library at module level: the dyno client child runs this file, and
# its measured CPU should hold what dyno's client needs to import, nothing of the parent's.
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m-instruct"  # the name the pacing server lists; vllm bench serve sends it
BIN = Path(sys.executable).parent
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}


# ---- children: the pacing server, and dyno's client -------------------------------------------


def serve_child(cfg_json: str) -> None:
    """Child mode: run the pacing server, print its URL; on 'cpu' print its own CPU seconds."""
    import resource

    sys.path.insert(0, str(ROOT))
    from tests.fixtures.pacing_server import PacingConfig, PacingServer

    with PacingServer(PacingConfig(**json.loads(cfg_json))) as srv:
        print(srv.url, flush=True)
        for line in sys.stdin:
            if line.strip() != "cpu":
                break
            r = resource.getrusage(resource.RUSAGE_SELF)
            print(r.ru_utime + r.ru_stime, flush=True)


async def dyno_client(spec: dict[str, Any]) -> dict[str, Any]:
    """Child mode: the workload through dyno's StreamClient, figures derived as `dyno bench` does."""
    from dyno.bench.stats import summarize
    from dyno.client import GenRequest, StreamClient, derive

    sem = asyncio.Semaphore(spec["concurrency"])

    async def one(client: StreamClient, i: int) -> Any:
        # Salted like dyno's own scenarios, so a real server's prefix cache could not help.
        text = f"[{i}] {spec['prompt']}"
        req = GenRequest(
            spec["model"],
            ({"role": "user", "content": text},),
            max_tokens=spec["output_len"],
            ignore_eos=True,
        )
        async with sem:
            return await client.generate(req)

    async with StreamClient(spec["url"]) as client:
        records = await asyncio.gather(*(one(client, i) for i in range(spec["requests"])))
    ttft = summarize(derive.ttft_ms(r) for r in records)
    itl = summarize(x for r in records for x in derive.itl_ms(r))
    decode = summarize(derive.decode_tok_s(r) for r in records)
    return {
        "ok": sum(r.ok for r in records),
        "output_tokens": sum(r.output_tokens or 0 for r in records),
        "ttft_ms_mean": ttft.mean if ttft else None,
        "itl_ms_mean": itl.mean if itl else None,
        "decode_tok_s_mean": decode.mean if decode else None,
    }


# ---- the parent ---------------------------------------------------------------------------------


class Server:
    """The pacing server in a child process, and its CPU time on request."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        args = [sys.executable, __file__, "--serve", json.dumps(cfg)]
        self._child = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._child.stdout is not None
        self.url = self._child.stdout.readline().strip()

    def cpu_s(self) -> float:
        assert self._child.stdin is not None and self._child.stdout is not None
        self._child.stdin.write("cpu\n")
        self._child.stdin.flush()
        return float(self._child.stdout.readline())

    def close(self) -> None:
        assert self._child.stdin is not None
        self._child.stdin.write("quit\n")
        self._child.stdin.close()
        self._child.wait(10)


@dataclass
class Measured:
    tool: str
    what: str  # "baseline" or "C=16"
    rc: int
    cpu_s: float
    wall_s: float
    tokens: float  # server-side generation tokens during the run
    requests: float  # server-side finished requests during the run
    prompt_tokens: float  # server-side prompt tokens (the pacing server counts words)
    server_cpu_s: float
    output: str
    report: dict[str, Any] = field(default_factory=dict)  # what the tool itself said

    @property
    def per_1m(self) -> float | None:
        return self.cpu_s / self.tokens * 1e6 if self.tokens > 0 and self.rc == 0 else None


def server_counters(url: str) -> tuple[float, float, float]:
    """(generation tokens, finished requests, prompt tokens) from the server's /metrics."""
    from dyno.client.endpoint import Endpoint
    from dyno.metrics.prom import parse
    from dyno.metrics.vllm import GENERATION_TOKENS, PROMPT_TOKENS

    with Endpoint(url) as ep:
        text = ep.metrics_text()
    if text is None:
        raise SystemExit(f"{url}/metrics did not answer")
    s = parse(text)
    return (
        s.total(GENERATION_TOKENS) or 0.0,
        s.total("vllm:request_success_total") or 0.0,
        s.total(PROMPT_TOKENS) or 0.0,
    )


def run_measured(
    tool: str, what: str, argv: list[str], srv: Server, *, env: dict[str, str] | None = None, cwd: Path
) -> Measured:
    """Run one tool to completion and take its CPU time from wait4: that child's and its reaped children's."""
    tok0, req0, pr0 = server_counters(srv.url)
    s0 = srv.cpu_s()
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    s1 = srv.cpu_s()
    tok1, req1, pr1 = server_counters(srv.url)
    return Measured(
        tool,
        what,
        p.returncode,
        ru.ru_utime + ru.ru_stime,
        wall,
        tok1 - tok0,
        req1 - req0,
        pr1 - pr0,
        s1 - s0,
        text,
    )


def dyno_prompt(tokenizer: Path, input_len: int) -> tuple[str, str]:
    """A prose prompt of `input_len` SmolLM2 tokens (no chat template), and how it was counted."""
    from dyno.workloads.synthetic import EstimateTokenizer, LocalTokenizer, PromptTokenizer, exact_prompt

    tok: PromptTokenizer = (
        LocalTokenizer(tokenizer) if (tokenizer / "tokenizer_config.json").is_file() else EstimateTokenizer()
    )
    p = asyncio.run(exact_prompt(tok, input_len, salt="cost", chat=False))
    return p.text, f"{p.tokens} tokens ({p.method})"


def dyno_client_run(srv: Server, what: str, spec: dict[str, Any], cwd: Path) -> Measured:
    argv = [sys.executable, __file__, "--dyno-client", json.dumps(spec)]
    m = run_measured("dyno client", what, argv, srv, cwd=cwd)
    if m.rc == 0:
        m.report = json.loads(m.output.strip().splitlines()[-1])
    return m


def dyno_cli_run(srv: Server, what: str, concurrency: int, repeat: int, cwd: Path) -> Measured:
    home = cwd / f"dyno-home-{what.replace('=', '')}"  # a fresh store per run, kept for inspection
    argv = [
        str(BIN / "dyno"),
        "bench",
        srv.url,
        "--suite",
        "full",
        "--scenario",
        "concurrency",
        "--concurrency",
        str(concurrency),
        "--repeat",
        str(repeat),
    ]
    env = os.environ | {"DYNO_HOME": str(home), "COLUMNS": "160"}
    return run_measured("dyno bench CLI", what, argv, srv, env=env, cwd=cwd)


def vllm_run(
    srv: Server, what: str, vllm: Path, tokenizer: Path, n: int, c: int, args: argparse.Namespace, cwd: Path
) -> Measured:
    result = f"vllm-{what.replace('=', '')}.json"
    argv = [
        str(vllm),
        "bench",
        "serve",
        "--backend",
        "openai-chat",
        "--base-url",
        srv.url,
        "--endpoint",
        "/v1/chat/completions",
        "--model",
        MODEL,
        "--tokenizer",
        str(tokenizer),
        "--dataset-name",
        "random",
        "--random-input-len",
        str(args.input_len),
        "--random-output-len",
        str(args.output_len),
        "--num-prompts",
        str(n),
        "--max-concurrency",
        str(c),
        "--request-rate",
        "inf",
        "--ignore-eos",
        "--temperature",
        "0",
        "--disable-tqdm",
        "--save-result",
        "--result-dir",
        str(cwd),
        "--result-filename",
        result,
    ]
    m = run_measured("vllm bench serve", what, argv, srv, env=os.environ | OFFLINE_ENV, cwd=cwd)
    path = cwd / result
    if m.rc == 0 and path.is_file():
        r = json.loads(path.read_text())
        m.report = {
            "ok": r.get("completed"),
            "output_tokens": r.get("total_output_tokens"),
            "ttft_ms_mean": r.get("mean_ttft_ms"),
            "itl_ms_mean": r.get("mean_itl_ms"),
            "tpot_ms_mean": r.get("mean_tpot_ms"),
        }
    return m


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def marginal(m: Measured, base: Measured | None) -> float | None:
    if base is None or m.rc != 0 or base.rc != 0 or m.tokens <= base.tokens:
        return None
    return (m.cpu_s - base.cpu_s) / (m.tokens - base.tokens) * 1e6


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


HEAD = (
    f"{'tool':<17} {'run':<9} {'reqs':>5} {'tokens':>8} {'prompt':>6} {'wall s':>7} {'CPU s':>7} "
    f"{'CPU-s/1M tok':>12} {'marginal':>9} {'srv CPU/wall':>12}"
)


def row(m: Measured, base: Measured | None) -> str:
    if m.rc != 0:
        return f"{m.tool:<17} {m.what:<9} FAILED (exit {m.rc}); its output ends:\n" + "\n".join(
            "    " + line for line in m.output.strip().splitlines()[-15:]
        )
    prompt = m.prompt_tokens / m.requests if m.requests else 0.0
    return (
        f"{m.tool:<17} {m.what:<9} {m.requests:>5.0f} {m.tokens:>8.0f} {prompt:>6.0f} {m.wall_s:>7.2f} "
        f"{m.cpu_s:>7.2f} {fmt(m.per_1m, '12.1f')} {fmt(marginal(m, base), '9.1f')} "
        f"{m.server_cpu_s / m.wall_s:>12.2f}"
    )


def said(m: Measured, ttft_cfg: float) -> str:
    r = m.report
    if not r:
        return ""
    return (
        f"  {m.tool} {m.what} says: {r.get('ok')} ok, {r.get('output_tokens')} output tokens; "
        f"mean TTFT {fmt(r.get('ttft_ms_mean'), '.1f')} ms (configured {ttft_cfg:g}), "
        f"mean ITL {fmt(r.get('itl_ms_mean'), '.2f')} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=384, help="requests per measured run")
    ap.add_argument("--output-len", type=int, default=256)
    ap.add_argument("--input-len", type=int, default=256, help="prompt tokens (SmolLM2 tokenizer)")
    ap.add_argument("--concurrency", default="16,64", help="levels, e.g. 16,64")
    ap.add_argument("--ttft-ms", type=float, default=10.0)
    ap.add_argument("--itl-ms", type=float, default=2.0)
    ap.add_argument("--tokenizer", type=Path, default=None, help="local tokenizer folder for vllm")
    ap.add_argument("--vllm", type=Path, default=BIN / "vllm", help="the vllm executable")
    ap.add_argument("--baseline-runs", type=int, default=3, help="1-request runs per tool (median used)")
    ap.add_argument("--no-cli", action="store_true", help="skip the `dyno bench` CLI rows")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--dyno-client", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_child(args.serve)
        return
    if args.dyno_client:
        print(json.dumps(asyncio.run(dyno_client(json.loads(args.dyno_client)))))
        return

    sys.path.insert(0, str(ROOT / "src"))
    from dyno.settings import Settings

    levels = [int(x) for x in args.concurrency.split(",")]
    tokenizer: Path = args.tokenizer or Settings.from_env().models_dir / MODEL
    vllm_missing = None
    if not args.vllm.is_file():
        vllm_missing = f"{args.vllm} does not exist"
    elif not (tokenizer / "tokenizer_config.json").is_file():
        vllm_missing = (
            f"no tokenizer at {tokenizer}: run `dyno models fetch {MODEL}` (or pass --tokenizer FOLDER)"
        )
    prompt, prompt_how = dyno_prompt(tokenizer, args.input_len)
    cfg = {
        "ttft_s": args.ttft_ms / 1e3,
        "itl_s": args.itl_ms / 1e3,
        "model": MODEL,
        "max_model_len": 1 << 20,
    }
    print(
        f"client cost: pacing server in a child process (TTFT {args.ttft_ms:g} ms, ITL {args.itl_ms:g} ms, "
        f"1 token per chunk), {args.requests} chat requests x {args.output_len} output tokens (ignore_eos), "
        f"prompt {args.input_len} tokens; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"dyno's prompt: bundled prose, {prompt_how}; vllm's: its random dataset, --random-input-len")
    print(
        "prompt = server-side prompt tokens per request (the pacing server counts words, chat content only)"
    )
    if vllm_missing:
        print(f"vllm bench serve NOT RUN: {vllm_missing}")
    work = Path(tempfile.mkdtemp(prefix="dyno-client-cost-"))
    srv = Server(cfg)
    try:
        base_spec = {"url": srv.url, "model": MODEL, "prompt": prompt, "output_len": args.output_len}
        bases: dict[str, Measured] = {}  # the median of each tool's baseline runs
        baseline_tries: dict[str, list[Measured]] = {}
        runs: list[tuple[Measured, Measured | None]] = []

        def note(m: Measured) -> None:
            # Progress on stderr, so the printed table stays clean.
            print(f"  ... {m.tool} {m.what}: {m.wall_s:.1f} s", file=sys.stderr, flush=True)

        for tool in ("dyno client", "dyno bench CLI", "vllm bench serve"):
            if (tool == "dyno bench CLI" and args.no_cli) or (tool == "vllm bench serve" and vllm_missing):
                continue
            tries = []
            for i in range(args.baseline_runs):
                what = f"baseline{i + 1}"
                if tool == "dyno client":
                    m = dyno_client_run(srv, what, base_spec | {"requests": 1, "concurrency": 1}, work)
                elif tool == "dyno bench CLI":
                    m = dyno_cli_run(srv, what, 1, 1, work)
                else:
                    m = vllm_run(srv, what, args.vllm, tokenizer, 1, 1, args, work)
                note(m)
                tries.append(m)
            baseline_tries[tool] = tries
            ok = sorted((t for t in tries if t.rc == 0), key=lambda t: t.cpu_s)
            if ok:
                bases[tool] = ok[len(ok) // 2]  # the median run by CPU time
        for c in levels:
            what = f"C={c}"
            m = dyno_client_run(srv, what, base_spec | {"requests": args.requests, "concurrency": c}, work)
            note(m)
            runs.append((m, bases.get(m.tool)))
            if not args.no_cli:
                m = dyno_cli_run(srv, what, c, max(1, args.requests // c), work)
                note(m)
                runs.append((m, bases.get(m.tool)))
            if not vllm_missing:
                m = vllm_run(srv, what, args.vllm, tokenizer, args.requests, c, args, work)
                note(m)
                runs.append((m, bases.get(m.tool)))
    finally:
        srv.close()

    print()
    print(HEAD)
    print("-" * len(HEAD))
    for tries in baseline_tries.values():
        for b in tries:
            print(row(b, None) + ("  <- median, used for marginal" if bases.get(b.tool) is b else ""))
    for m, base in runs:
        print(row(m, base))
    print()
    print("ratios dyno / vllm bench serve (CPU-s per 1M tokens; < 1 means dyno is cheaper)")
    for c in levels:
        what = f"C={c}"
        by_tool = {m.tool: (m, b) for m, b in runs if m.what == what}
        v = by_tool.get("vllm bench serve")
        for tool in ("dyno client", "dyno bench CLI"):
            d = by_tool.get(tool)
            if d is None or v is None:
                continue
            print(
                f"  {what:<5} {tool:<15} all-in {ratio(d[0].per_1m, v[0].per_1m):>5}   "
                f"marginal {ratio(marginal(*d), marginal(*v)):>5}"
            )
    print()
    print("what each tool reported about its own runs (the pacing server's role-only chunk comes at once;")
    print("its first content chunk comes after the configured TTFT):")
    for m in [*bases.values(), *(m for m, _ in runs)]:
        line = said(m, args.ttft_ms)
        if line:
            print(line)
    mismatch = next(
        (line for m, _ in runs for line in m.output.splitlines() if "tokenizer mismatch" in line), None
    )
    if mismatch:
        print(f"  vllm bench serve printed: {mismatch.strip()}")
        print(
            "    before each run it POSTs every prompt to the server's /tokenize to check its local\n"
            "    tokenizer (the pacing server counts words, so they disagree); that is in its CPU s,\n"
            "    and those requests stream no tokens"
        )
    print(f"\nworking files (vllm result JSON, dyno bench stores): {work}")


if __name__ == "__main__":
    main()
