"""Capacity search on a server whose capacity is known: dyno capacity vs GuideLLM 0.8.1's goodput profile.

Each case is the pacing test server (tests/fixtures/pacing_server.py, in its own process, a fresh
one per tool) given a capacity that is not a power of two, and an SLO whose answer is known:
- queue3 / queue6: `slots=k` (k requests generate at once, the rest wait FIFO and their TTFT counts
  the wait; a request holds its slot 10 + 15 x 4 = 70 ms), SLO ttft_ms<=35: the answer is k;
- batch5: `itl_per_stream_s=0.006` (TPOT = 4 + 6 (c - 1) ms: 28 at 5, 34 at 6), SLO tpot_ms<=31: 5.
16 prompt and 16 output tokens, 95% of requests must meet the SLO, levels 1..16.

Tools, each a real command line:
- dyno: `dyno capacity URL --slo ... --format json` (a sequential test per probe);
- GuideLLM: `guidellm run --profile kind=goodput,...` with the same SLO and target, a fixed
  duration per probe (--guidellm-seconds, 8 by default). Its side venv (.venv-guidellm) is made once
  by timing_truth.py's guidellm_ready();
- linear sweep: levels 1..truth+1 with N requests each, N = what dyno needs to pass a level where
  every request conforms (boundaries(0.95).all_conforming_needs). Its requests are computed; it is
  also run (`dyno bench --concurrency 1,..,truth+1 --requests N --slo ...`), unless --no-sweep.

How to read a row: found vs truth; probes and their sequence, each level marked + pass, - fail,
? unresolved (dyno: indeterminate; GuideLLM: its Wilson interval straddles the target, the mark
after its point verdict; sweep: the attainment interval straddles it), ! client-bound; requests
sent; wall seconds (start-up included) and the seconds spent in probes; how many verdicts were
unresolved. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/capacity.py [--cases queue3,queue6,batch5] [--guidellm-seconds 8]
        [--no-guidellm] [--no-sweep]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import timing_truth as tt  # puts the repo root and src/ on sys.path

from dyno.capacity.sequential import boundaries
from tests.fixtures.pacing_server import PacingConfig

TARGET = 0.95
MAX_LEVEL = 16
TOKENS = 16


@dataclass(frozen=True)
class Case:
    name: str
    cfg: PacingConfig
    slo: str  # dyno's syntax, one objective: NAME<=VALUE
    truth: int


CASES = {
    "queue3": Case("queue3", PacingConfig(ttft_s=0.01, itl_s=0.004, slots=3), "ttft_ms<=35", 3),
    "queue6": Case("queue6", PacingConfig(ttft_s=0.01, itl_s=0.004, slots=6), "ttft_ms<=35", 6),
    "batch5": Case(
        "batch5", PacingConfig(ttft_s=0.01, itl_s=0.004, itl_per_stream_s=0.006), "tpot_ms<=31", 5
    ),
}


@dataclass
class Row:
    tool: str
    found: int | None = None
    levels: list[str] | None = None  # each probed level with its marks, in order
    requests: int | None = None
    wall_s: float | None = None
    probe_s: float | None = None
    unresolved: int = 0
    note: str = ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)
    return time.perf_counter() - t0, out


def last_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = out.stderr.strip().splitlines() or out.stdout.strip().splitlines()
    return (lines[-1] if lines else f"exit {out.returncode}")[:160]


def dyno_capacity(url: str, case: Case, work: Path) -> Row:
    cmd = [str(tt.BIN / "dyno"), "capacity", url, "--slo", case.slo, "--output-tokens", str(TOKENS)]
    cmd += ["--input-tokens", str(TOKENS), "--max-concurrency", str(MAX_LEVEL), "--format", "json"]
    home = Path(tempfile.mkdtemp(prefix="dyno-home-", dir=work))
    wall, out = timed(cmd, {**os.environ, "DYNO_HOME": str(home)}, work)
    row = Row("dyno capacity", wall_s=wall)
    try:
        doc = json.loads(out.stdout)
    except ValueError:
        row.note = last_line(out)
        return row
    marks = {"pass": "+", "fail": "-", "indeterminate": "?", "client_bound": "!"}
    probes = doc.get("probes") or []
    row.found = doc.get("capacity_concurrency")
    row.levels = [f"{p['level']}{marks.get(p['verdict'], '?')}" for p in probes]
    row.requests = doc.get("requests")
    row.probe_s = sum(float(p.get("seconds") or 0) for p in probes)
    row.unresolved = sum(p["verdict"] in ("indeterminate", "client_bound") for p in probes)
    if not doc.get("resolved"):
        row.note = "dyno: not resolved"
    return row


def guidellm_cmd(exe: Path, url: str, case: Case, seconds: float, tokenizer: Path, out: Path) -> list[str]:
    name, value = case.slo.split("<=")
    metrics = {"kind": "generative", "slo": {name: float(value)}}
    profile = f"kind=goodput,initial_streams=1,max_streams={MAX_LEVEL},target_attainment={TARGET}"
    return [
        str(exe), "run",
        "--backend", f"kind=openai_http,target={url},model={tt.MODEL},validate_backend=false",
        "--profile", profile,
        "--metrics", json.dumps(metrics, separators=(",", ":")),
        "--constraint", f"kind=max_duration,seconds={seconds:g}",
        "--data", f"kind=synthetic_text,prompt_tokens={TOKENS},output_tokens={TOKENS}",
        "--tokenizer", f"kind=huggingface_auto,model={tokenizer}",
        "--output", f"kind=json,path={out}", "--disable-console-interactive",
    ]  # fmt: skip


def guidellm_goodput(cmd: list[str], out: Path, work: Path) -> Row:
    wall, res = timed(cmd, {**os.environ, **tt.OFFLINE}, work)
    row = Row("GuideLLM goodput", wall_s=wall)
    try:
        doc = json.loads(out.read_text())
        search = doc["conclusions"][0]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        row.note = last_line(res)
        return row
    probes = search.get("probes") or []
    row.found = search.get("best_passing_streams")
    row.levels = [
        f"{p['streams']}{'+' if p['passed'] else '-'}{'' if p['resolved'] else '?'}"
        + ("!" if p.get("aborted") else "")
        for p in probes
    ]
    benches = doc.get("benchmarks") or []
    row.requests = sum(int(b["metrics"]["request_totals"]["total"]) for b in benches)
    row.probe_s = sum(float(b.get("duration") or 0) for b in benches)
    row.unresolved = sum(not p["resolved"] for p in probes)
    row.note = f"stop: {search.get('stop_reason')}"
    return row


def dyno_sweep(url: str, case: Case, n: int, work: Path) -> Row:
    levels = list(range(1, case.truth + 2))
    cmd = [str(tt.BIN / "dyno"), "bench", url, "--concurrency", ",".join(map(str, levels))]
    cmd += ["--requests", str(n), "--slo", case.slo, "--input-tokens", str(TOKENS)]
    cmd += ["--output-tokens", str(TOKENS), "--format", "json"]
    home = Path(tempfile.mkdtemp(prefix="dyno-home-", dir=work))
    wall, out = timed(cmd, {**os.environ, "DYNO_HOME": str(home)}, work)
    row = Row("linear sweep, run", requests=n * len(levels), wall_s=wall, levels=[])
    try:
        results = json.loads(out.stdout)["scenarios"][0]["results"]
    except (ValueError, KeyError, IndexError):
        row.note = last_line(out)
        return row
    judged = {r["label"]: r for r in results if r["metric"] == "slo_attainment"}
    ok = True
    for level in levels:
        r = judged.get(f"c{level}")
        if r is None:
            row.levels.append(f"{level}?")
            row.unresolved += 1
            ok = False
            continue
        low, high = r.get("interval") or (0.0, 1.0)
        passed = r["mean"] >= TARGET
        resolved = low >= TARGET or high < TARGET
        row.levels.append(f"{level}{'+' if passed else '-'}{'' if resolved else '?'}")
        row.unresolved += not resolved
        ok = ok and passed
        if ok:
            row.found = level
    row.note = "levels judged on their steady window (ramp-up and drain excluded)"
    return row


def print_table(results: list[tuple[Case, Row]]) -> None:
    head = f"{'case':7} {'truth':>5}  {'tool':18} {'found':>5} {'probes':>6}  {'sequence':32}"
    print(head + f" {'requests':>8} {'wall s':>7} {'probe s':>7} {'unres.':>6}  note")
    for case, r in results:
        seq = " ".join(r.levels) if r.levels is not None else "-"
        probes = str(len(r.levels)) if r.levels is not None else "-"
        found = "-" if r.found is None else str(r.found)
        if r.found is not None and r.found != case.truth:
            found += "*"
        reqs = "-" if r.requests is None else str(r.requests)
        wall = "-" if r.wall_s is None else f"{r.wall_s:.1f}"
        probe = "-" if r.probe_s is None else f"{r.probe_s:.1f}"
        print(
            f"{case.name:7} {case.truth:5d}  {r.tool:18} {found:>5} {probes:>6}  {seq:32} {reqs:>8} "
            f"{wall:>7} {probe:>7} {r.unresolved:6d}  {r.note}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    ap.add_argument("--guidellm-seconds", type=float, default=8.0, help="GuideLLM's duration per probe")
    ap.add_argument("--no-guidellm", action="store_true")
    ap.add_argument("--no-sweep", action="store_true", help="compute the linear sweep's cost, do not run it")
    args = ap.parse_args()
    cases = [CASES[c] for c in args.cases.split(",")]

    n = boundaries(TARGET).all_conforming_needs
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores)")
    print(
        f"pacing server in its own process, a fresh one per tool; {TOKENS} prompt / {TOKENS} output "
        f"tokens; attainment target {TARGET:.0%}; levels 1..{MAX_LEVEL}; linear sweep N = {n} per level"
    )
    exe = None if args.no_guidellm else tt.guidellm_ready()
    tokenizer = tt.fetch(tt.Settings.from_env(), "smollm2-135m-instruct").path
    results: list[tuple[Case, Row]] = []
    shown_cmd: list[str] | None = None
    with tempfile.TemporaryDirectory(prefix="capacity-bench-") as tmp:
        work = Path(tmp)
        for case in cases:
            runs: list[Callable[[str], Row]] = [lambda url, c=case: dyno_capacity(url, c, work)]
            if exe is not None:
                out = Path(tempfile.mkdtemp(prefix="guidellm-", dir=work)) / "g.json"

                def gl(url: str, c: Case = case, o: Path = out) -> Row:
                    nonlocal shown_cmd
                    cmd = guidellm_cmd(exe, url, c, args.guidellm_seconds, tokenizer, o)
                    shown_cmd = shown_cmd or cmd
                    return guidellm_goodput(cmd, o, work)

                runs.append(gl)
            if not args.no_sweep:
                runs.append(lambda url, c=case: dyno_sweep(url, c, n, work))
            for run in runs:
                srv = tt.Server(case.cfg)
                try:
                    row = run(srv.url)
                finally:
                    srv.close()
                results.append((case, row))
                print(f"  {case.name}: {row.tool} done in {row.wall_s or 0:.1f} s", flush=True)
            levels = case.truth + 1
            note = f"{levels} levels x {n}: truth assumed found, every level resolved"
            seq = [str(lv) for lv in range(1, levels + 1)]
            results.append((case, Row("linear sweep, calc", case.truth, seq, n * levels, note=note)))
        print()
        print_table(results)
    print("\n+ pass, - fail, ? unresolved, ! client-bound (dyno) or aborted (GuideLLM); * found != truth")
    if shown_cmd is not None:
        print("GuideLLM command (first case):", shlex.join(shown_cmd))
    print(
        "What differs: GuideLLM runs each probe for a fixed time and decides pass/fail on the point\n"
        "estimate (attainment >= target); its 95% Wilson interval only flags a probe as unresolved, and\n"
        "an unresolved probe still bounds the search. dyno runs each probe until a sequential test\n"
        "(errors <= 5% each way, calibrated for a look after every request) decides, or its cap\n"
        "(indeterminate, never a bound). GuideLLM's tpot_ms is its inter_token_latency_ms (first token\n"
        "excluded), and it sends no warm-up request; dyno sends one. GuideLLM's tolerance (0.1 of the\n"
        "best level, at least 1) is an exact integer bracket at these levels, as dyno's is."
    )


if __name__ == "__main__":
    main()
