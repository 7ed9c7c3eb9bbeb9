"""dyno's TTFT and decode figures next to `vllm bench serve`'s, on the same engine with the same lengths.

    .venv/bin/python benchmarks/vs_vllm_bench.py [--url URL] [--input-len 256] [--output-len 128]
        [--requests 5] [--tokenizer PATH]

Without --url it uses the embedded engine (SmolLM2-135M-Instruct on vLLM CPU,
profile `smollm2`): a running one if dyno started it, else it starts one and
stops it at the end. Then, after one warm-up request that neither side counts:

1. `vllm bench serve --backend openai-chat --dataset-name random
   --random-input-len L_in --random-output-len L_out --num-prompts N
   --max-concurrency 1 --request-rate inf --ignore-eos --temperature 0` (greedy,
   one stream, a fresh --seed per run), saving its JSON result with per-request
   detail.
2. dyno: N single-stream chat requests through StreamClient, each a salted
   prose prompt built by dyno.workloads.synthetic.exact_prompt to exactly the
   prompt length the server reported for vllm's requests (usage prompt_tokens,
   chat template included), max_tokens L_out, ignore_eos, temperature 0;
   figures from dyno.client.derive.

It prints a table: metric | dyno | vllm bench serve | ratio (dyno / vllm).
The definitions differ, so each row says what is compared:
- TTFT: dyno stops the clock at the first chunk carrying content; vllm bench
  serve at the first chunk with a non-empty `choices`, which on vLLM's chat
  endpoint is the role-only chunk. vLLM sends that chunk in the same engine
  step as the first token, so the two should agree here; the footnotes show
  the gap that was measured.
- TPOT (ms per output token after the first): vllm's is per request
  (latency - TTFT) / (output tokens - 1), averaged over requests. dyno's like
  for like is 1000 / decode tok/s per request, where decode tok/s = (output
  tokens - tokens of the first content chunk) / (last - first content chunk).
- ITL: vllm pools the gaps between all chunks with choices (one chunk = one
  "token" to it); dyno pools the gaps between content chunks divided by the
  tokens the later chunk carried (usage per chunk).
- decode tok/s: dyno's per-request figure; for vllm, (output tokens - 1) /
  (latency - TTFT) per request from its saved detail, i.e. 1000 / its TPOT.
- output tok/s (whole run): vllm's "output token throughput" (all output
  tokens / benchmark duration, TTFT and gaps between requests included) and
  dyno's aggregate_tok_s (all output tokens / first sent -> last finished).
Footnotes give prefix-cache hits and generation tokens from the server's
/metrics for each side. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dyno.client import GenRequest, RequestRecord, StreamClient, derive
from dyno.client.endpoint import Endpoint
from dyno.engine import profiles, supervisor
from dyno.engine.state import liveness, read_state
from dyno.metrics.prom import Scrape, counter_delta, parse
from dyno.metrics.vllm import GENERATION_TOKENS, PROMPT_TOKENS, prefix_cache_delta
from dyno.settings import Settings
from dyno.workloads.prompts import SHORT_PROMPT
from dyno.workloads.synthetic import ServerTokenizer, exact_prompt

PROFILE = "smollm2"
MODEL_ID = "smollm2-135m-instruct"
BIN = Path(sys.executable).parent
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}


@contextmanager
def engine(settings: Settings, url: str | None) -> Iterator[str]:
    """The URL to measure: --url, a running embedded engine, or one started here and stopped after."""
    if url:
        yield url.rstrip("/").removesuffix("/v1")
        return
    state = read_state(settings)
    if state is not None and liveness(state).alive:
        if state.profile != PROFILE:
            raise SystemExit(f"engine {state.profile!r} is running; `dyno down` it first or pass --url")
        print(f"using the running embedded engine at {state.url}")
        yield state.url
        return
    print("starting the embedded engine ...", flush=True)
    t0 = time.perf_counter()
    recipe = profiles.to_recipe(settings, profiles.load_profile(settings, PROFILE))
    state = supervisor.start(settings, PROFILE, recipe)
    try:
        print(f"engine ready at {state.url} in {time.perf_counter() - t0:.0f} s")
        yield state.url
    finally:
        supervisor.stop(settings)
        print("engine stopped")


def scrape(ep: Endpoint) -> Scrape:
    text = ep.metrics_text()
    if text is None:
        raise SystemExit(f"{ep.base_url}/metrics did not answer")
    return parse(text, time.perf_counter_ns())


# ---- vllm bench serve ---------------------------------------------------------------------------


def run_vllm(
    url: str, model: str, tokenizer: Path, args: argparse.Namespace, seed: int, work: Path
) -> tuple[dict[str, Any] | None, str]:
    """Run vllm bench serve; (its saved JSON result or None, its output)."""
    argv = [
        str(args.vllm),
        "bench",
        "serve",
        "--backend",
        "openai-chat",
        "--base-url",
        url,
        "--endpoint",
        "/v1/chat/completions",
        "--model",
        model,
        "--tokenizer",
        str(tokenizer),
        "--dataset-name",
        "random",
        "--random-input-len",
        str(args.input_len),
        "--random-output-len",
        str(args.output_len),
        "--num-prompts",
        str(args.requests),
        "--max-concurrency",
        "1",
        "--request-rate",
        "inf",
        "--ignore-eos",
        "--temperature",
        "0",
        "--seed",
        str(seed),
        "--disable-tqdm",
        "--save-result",
        "--save-detailed",
        "--result-dir",
        str(work),
        "--result-filename",
        "vllm.json",
    ]
    print("$ " + " ".join(argv), flush=True)
    p = subprocess.run(
        argv, env=os.environ | OFFLINE_ENV, cwd=work, capture_output=True, text=True, check=False
    )
    out = p.stdout + p.stderr
    path = work / "vllm.json"
    if p.returncode != 0 or not path.is_file():
        return None, out
    result: dict[str, Any] = json.loads(path.read_text())
    return result, out


def vllm_summary_block(out: str) -> list[str]:
    """The result block vllm bench serve prints, as a user sees it."""
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if "Serving Benchmark Result" in line), None)
    if start is None:
        return []
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("=====")), len(lines) - 1)
    return lines[start : end + 1]


# ---- dyno -----------------------------------------------------------------------------------------


async def run_dyno(
    ep: Endpoint, url: str, model: str, prompt_tokens: int, args: argparse.Namespace
) -> tuple[list[RequestRecord], str]:
    """N single-stream requests with exact-length salted prompts; (records, how prompts were counted)."""
    tok = ServerTokenizer(ep, model)
    salt = secrets.token_hex(3)
    prompts = [await exact_prompt(tok, prompt_tokens, salt=f"{salt}-{i}") for i in range(args.requests)]
    how = f"{tok.method}, {sum(p.exact for p in prompts)}/{len(prompts)} exact"
    records = []
    async with StreamClient(url) as client:
        for _i, p in enumerate(prompts):
            req = GenRequest(
                model, ({"role": "user", "content": p.text},), max_tokens=args.output_len, ignore_eos=True
            )
            records.append(await client.generate(req))
    return records, how


async def warm_up(url: str, model: str) -> None:
    async with StreamClient(url) as client:
        req = GenRequest(model, ({"role": "user", "content": SHORT_PROMPT},), max_tokens=16)
        await client.generate(req)


# ---- the table --------------------------------------------------------------------------------------


def mean(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def cell(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.3f}"


def dyno_figures(recs: list[RequestRecord]) -> dict[str, float | None]:
    ok = [r for r in recs if r.ok]
    ttft = [x for r in ok if (x := derive.ttft_ms(r)) is not None]
    decode = [x for r in ok if (x := derive.decode_tok_s(r)) is not None]
    tpot = [1000 / x for x in decode]
    itl = [x for r in ok for x in derive.itl_ms(r)]
    return {
        "prompt": mean([float(r.prompt_tokens) for r in ok if r.prompt_tokens is not None]),
        "output": mean([float(r.output_tokens) for r in ok if r.output_tokens is not None]),
        "ttft_mean": mean(ttft),
        "ttft_median": median(ttft),
        "tpot_mean": mean(tpot),
        "tpot_median": median(tpot),
        "itl_mean": mean(itl),
        "itl_median": median(itl),
        "decode_mean": mean(decode),
        "throughput": derive.aggregate_tok_s(ok),
    }


def vllm_figures(r: dict[str, Any]) -> dict[str, float | None]:
    decode = [
        (out - 1) / sum(itl)
        for out, itl in zip(r.get("output_lens", []), r.get("itls", []), strict=False)
        if out > 1 and sum(itl) > 0
    ]
    done = r.get("completed") or 0
    return {
        "prompt": r["total_input_tokens"] / done if done else None,
        "output": r["total_output_tokens"] / done if done else None,
        "ttft_mean": r.get("mean_ttft_ms"),
        "ttft_median": r.get("median_ttft_ms"),
        "tpot_mean": r.get("mean_tpot_ms"),
        "tpot_median": r.get("median_tpot_ms"),
        "itl_mean": r.get("mean_itl_ms"),
        "itl_median": r.get("median_itl_ms"),
        "decode_mean": mean(decode),
        "throughput": r.get("output_throughput"),
    }


ROWS = (
    ("prompt tokens / request (server usage)", "prompt", ".1f"),
    ("output tokens / request (server usage)", "output", ".1f"),
    ("TTFT mean, ms", "ttft_mean", ".1f"),
    ("TTFT median, ms", "ttft_median", ".1f"),
    ("TPOT mean, ms/token (after 1st, per req)", "tpot_mean", ".2f"),
    ("TPOT median, ms/token", "tpot_median", ".2f"),
    ("ITL mean, ms (pooled gaps)", "itl_mean", ".2f"),
    ("ITL median, ms", "itl_median", ".2f"),
    ("decode tok/s mean (per request)", "decode_mean", ".1f"),
    ("output tok/s, whole run (incl. TTFT)", "throughput", ".1f"),
)


def print_table(d: dict[str, float | None], v: dict[str, float | None] | None) -> None:
    head = f"{'metric':<42} | {'dyno':>9} | {'vllm bench serve':>16} | {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for label, key, spec in ROWS:
        vv = v.get(key) if v else None
        print(
            f"{label:<42} | {cell(d.get(key), spec):>9} | {cell(vv, spec):>16} | {ratio(d.get(key), vv):>6}"
        )


def phase_facts(name: str, before: Scrape, after: Scrape, own_tokens: float | None) -> str:
    gen = counter_delta(before, after, GENERATION_TOKENS)
    prompt = counter_delta(before, after, PROMPT_TOKENS)
    pc = prefix_cache_delta(before, after)
    cache = (
        "prefix cache: not exported"
        if pc is None
        else f"prefix cache: {pc.hits:.0f} of {pc.queries:.0f} prompt tokens hit ({(pc.hit_rate or 0):.1%})"
    )
    return (
        f"  {name}: server generated {cell(gen, '.0f')} tokens (the tool counted {cell(own_tokens, '.0f')}), "
        f"prefilled {cell(prompt, '.0f')} prompt tokens; {cache}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an OpenAI-compatible vLLM endpoint (default: the embedded engine)")
    ap.add_argument("--input-len", type=int, default=256, help="vllm's --random-input-len")
    ap.add_argument("--output-len", type=int, default=128)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--tokenizer", type=Path, help="local tokenizer folder for vllm (default: the model's)")
    ap.add_argument("--vllm", type=Path, default=BIN / "vllm", help="the vllm executable")
    args = ap.parse_args()

    settings = Settings.from_env().ensure()
    work = Path(tempfile.mkdtemp(prefix="dyno-vs-vllm-"))
    seed = secrets.randbelow(2**31)
    with engine(settings, args.url) as url, Endpoint(url) as ep:
        served = ep.models()
        if len(served) != 1:
            raise SystemExit(f"{url} serves {[m.id for m in served]}; this script wants exactly one model")
        model = served[0].id
        tokenizer = args.tokenizer
        if tokenizer is None:
            root = Path(served[0].root or "")
            tokenizer = root if (root / "tokenizer_config.json").is_file() else settings.models_dir / MODEL_ID
        print(
            f"endpoint {url}: vLLM {ep.version()}, model {model}; {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        print(
            f"workload: {args.requests} requests, one at a time, {args.input_len}-token prompt (vllm's "
            f"random-input-len), {args.output_len} output tokens, ignore_eos, temperature 0"
        )
        asyncio.run(warm_up(url, model))

        s0 = scrape(ep)
        vllm_result, vllm_out = run_vllm(url, model, tokenizer, args, seed, work)
        s1 = scrape(ep)
        if vllm_result is not None:
            # The server's prompt length for vllm's requests, chat template included, is dyno's target.
            lens = [int(x) for x in vllm_result.get("input_lens", [])]
            target = int(statistics.median(lens)) if lens else args.input_len
            target_how = f"median server prompt_tokens of vllm's requests ({sorted(set(lens))})"
        else:
            base = ep.tokenize(model, messages=[{"role": "user", "content": ""}]) or 0
            target = args.input_len + base
            target_how = f"{args.input_len} + {base} chat-template tokens (vllm did not run)"
        records, how = asyncio.run(run_dyno(ep, url, model, target, args))
        s2 = scrape(ep)

    print()
    block = vllm_summary_block(vllm_out)
    if vllm_result is None:
        print("vllm bench serve FAILED; its output ends:")
        print("\n".join("    " + line for line in vllm_out.strip().splitlines()[-25:]))
    elif block:
        print("vllm bench serve printed:")
        print("\n".join("    " + line for line in block))
    print()
    failed = [r for r in records if not r.ok]
    d = dyno_figures(records)
    v = vllm_figures(vllm_result) if vllm_result is not None else None
    print_table(d, v)
    print()
    print("notes")
    print(f"  dyno prompt length target: {target} tokens = {target_how}; counted by {how}")
    if failed:
        print(f"  dyno: {len(failed)} requests failed: {failed[0].error_kind}: {failed[0].error_message}")
    vllm_tokens = float(vllm_result["total_output_tokens"]) if vllm_result else None
    print(phase_facts("vllm bench serve", s0, s1, vllm_tokens))
    print(phase_facts("dyno", s1, s2, float(sum(r.output_tokens or 0 for r in records))))
    # Is vllm's TTFT first chunk or first token? dyno sees both on the same stream.
    role_gap = [
        (r.t_first_content_ns - r.t_first_chunk_ns) / 1e6
        for r in records
        if r.t_first_content_ns is not None and r.t_first_chunk_ns is not None
    ]
    print(
        f"  dyno saw the role-only first chunk {cell(mean(role_gap), '.3f')} ms (mean) before the first "
        "content chunk: that is the most vllm's first-chunk TTFT can differ from a first-token TTFT here"
    )
    if vllm_result is not None:
        itls = vllm_result.get("itls", [])
        first_gap = [x[0] * 1000 for x in itls if x]
        chunks = mean([len(x) + 1.0 for x in itls])
        out_per_req = v["output"] if v else None
        print(
            f"  vllm counted {cell(chunks, '.1f')} chunks per request for {cell(out_per_req, '.1f')} "
            f"output tokens: its ITL list includes the role-chunk -> first-token gap "
            f"(mean {cell(mean(first_gap), '.3f')} ms), and its TTFT clock stops at the role chunk"
        )
        print(
            f"  vllm bench serve: seed {seed}; prompts are random token ids decoded to text "
            "(--random-input-len counts those tokens, without the chat template; the server adds it)"
        )
    print(
        "  dyno's prompts: bundled prose filler with a per-request salt first, so no two share a prefix "
        "beyond the chat template's system turn; vllm's random prompts differ from the first token too"
    )
    print(f"  working files: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
