"""`dyno check` on Ollama: the traps only its native API shows.

- ollama-split: part of the model in CPU memory (/api/ps `size_vram` < `size`):
  the same model at a fraction of its speed, and nothing in /v1 says so.
- ollama-cold-load: a model that is not loaded is loaded by the first request,
  whose TTFT then holds the whole load (`load_duration`).
- ollama-context: the context Ollama allocated against the one the model was
  trained for; Ollama's default is small and longer prompts are cut silently.
- ollama-server-timing: Ollama's own decode rate for a request against what
  the client saw of the same request.

The checks run before any other request of `dyno check`, so the cold-load
check sees the model as the user left it. The judges are pure functions over
what the server answered; `ollama_checks` gathers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

from dyno import provenance
from dyno.client import RequestRecord, server_message
from dyno.client.derive import decode_tok_s, ttft_ms
from dyno.client.ollama import GIB, LoadedModel, OllamaFacts, OllamaTiming, gather_facts
from dyno.client.ollama_stream import OllamaNativeClient
from dyno.engine.net import is_this_machine
from dyno.probe.judge import CheckResult
from dyno.probe.send import Prober

SPLIT, COLD, CONTEXT, TIMING = "ollama-split", "ollama-cold-load", "ollama-context", "ollama-server-timing"
PROMPT = "Describe the sea on a calm morning in three sentences."
MAX_TOKENS = 64
# Client and server decode rates this far apart mean the client is not seeing the server's pace.
RATE_AGREEMENT = (0.8, 1.25)
LOG_HINT = "see Ollama's log (journalctl -u ollama, or ~/.ollama/logs/server.log)"


async def ollama_checks(p: Prober, step: Callable[[str], None] = lambda _m: None) -> list[CheckResult]:
    """Look at /api/ps, send two native requests (the first may load the model), look again, judge."""
    step("ollama: what is loaded")
    before = await asyncio.to_thread(gather_facts, p.ep, p.model)
    c = p.client
    async with OllamaNativeClient(c.base_url, api_key=c.api_key, config=c.config) as native:
        step("ollama: first request")
        first = await p.send(p.chat(PROMPT, MAX_TOKENS), COLD, "first", client=native)
        step("ollama: server timing")
        warm = await p.send(p.chat(PROMPT, MAX_TOKENS), TIMING, client=native)
    after = await asyncio.to_thread(gather_facts, p.ep, p.model)
    return [
        judge_split(after, _gpu_here(p.ep.base_url)),
        judge_cold_load(before, first),
        judge_context(after),
        judge_server_timing(warm),
    ]


def _gpu_here(url: str) -> bool | None:
    """Whether the machine Ollama runs on has a GPU; None when it is another machine (dyno cannot tell)."""
    if not is_this_machine(urlsplit(url).hostname or ""):
        return None
    return bool(provenance.hardware().get("gpus"))


def _loaded(f: OllamaFacts, check: str, title: str) -> LoadedModel | CheckResult:
    """The model's /api/ps entry, or the skipped verdict that says why there is none."""
    if f.ps is None:
        return CheckResult(check, title, "skipped", "/api/ps did not answer")
    if f.loaded is None:
        return CheckResult(
            check,
            title,
            "skipped",
            f"the model is not in /api/ps even after two requests (loaded: {[m.name for m in f.ps]}); "
            "is keep_alive 0?",
        )
    return f.loaded


def judge_split(f: OllamaFacts, gpu_here: bool | None) -> CheckResult:
    """`gpu_here`: the server's machine has a GPU (True), has none (False), or dyno cannot see it (None)."""
    title = "model in GPU memory"
    m = _loaded(f, SPLIT, title)
    if isinstance(m, CheckResult):
        return m
    facts = {
        "size_bytes": m.size_bytes,
        "size_vram_bytes": m.size_vram_bytes,
        "gpu_fraction": m.gpu_fraction,
        "quantization": m.quantization,
    }
    total_gib = m.size_bytes / GIB
    if m.size_vram_bytes >= m.size_bytes:
        return CheckResult(SPLIT, title, "pass", f"all {total_gib:.1f} GiB in GPU memory", facts=facts)
    if m.size_vram_bytes == 0:
        if gpu_here is False:
            # A CPU-only box is a deployment, not a fault: nothing here to fix.
            return CheckResult(
                SPLIT,
                title,
                "pass",
                f"CPU-only: no GPU on this machine; the whole model ({total_gib:.1f} GiB) runs on the CPU",
                facts=facts,
            )
        where = (
            "although this machine has a GPU"
            if gpu_here
            else "(a CPU-only box, or an Ollama that cannot use its GPU: dyno cannot see that machine)"
        )
        return CheckResult(
            SPLIT,
            title,
            "fail" if gpu_here else "warn",
            f"the whole model ({total_gib:.1f} GiB) runs on the CPU, size_vram 0, {where}",
            "if the box has a GPU: another process may hold its memory (a vLLM container; see nvidia-smi); "
            "free it and restart Ollama, then check `ollama ps` says 100% GPU",
            facts,
        )
    return CheckResult(
        SPLIT,
        title,
        "fail",
        f"split across CPU and GPU: {m.size_vram_bytes / GIB:.1f} of {total_gib:.1f} GiB on the GPU, "
        f"{1 - m.gpu_fraction:.0%} ({m.cpu_bytes / GIB:.1f} GiB) on the CPU; decode runs at the CPU "
        "part's pace, a fraction of the all-GPU speed",
        "make it fit in GPU memory: a smaller quant, a smaller num_ctx (the KV cache counts), "
        "OLLAMA_NUM_PARALLEL=1 (each parallel slot adds KV cache), or free GPU memory another process "
        "holds (nvidia-smi); num_gpu sets how many layers go to the GPU",
        facts,
    )


def judge_cold_load(before: OllamaFacts, first: RequestRecord) -> CheckResult:
    """`before`: what /api/ps said before any request; `first`: the first request, sent natively."""
    title = "model loaded before the first request"
    if not first.ok:
        return CheckResult(
            COLD,
            title,
            "fail",
            f"native /api/chat failed: {first.error_kind}: {server_message(first.error_message)}",
            LOG_HINT,
        )
    if before.ps is None:
        return CheckResult(COLD, title, "skipped", "/api/ps did not answer before the first request")
    timing = OllamaTiming.from_server_timing(first.server_timing)
    load_ms = timing.load_duration_ms if timing else None
    ttft = ttft_ms(first)
    facts = {"loaded_before": before.loaded is not None, "load_duration_ms": load_ms, "ttft_ms": ttft}
    load = "no load_duration reported" if load_ms is None else f"load_duration {load_ms:.0f} ms"
    if before.loaded is not None:
        until = f" (Ollama keeps it until {before.loaded.expires_at})" if before.loaded.expires_at else ""
        return CheckResult(
            COLD, title, "pass", f"already loaded{until}; the first request's {load}", facts=facts
        )
    ttft_s = "?" if ttft is None else f"{ttft:.0f}"
    return CheckResult(
        COLD,
        title,
        "warn",
        f"not loaded before the first request: its TTFT was {ttft_s} ms, {load} of it loading the model",
        "warm up before measuring (dyno bench sends a warm-up request before every scenario); keep the "
        "model loaded with keep_alive in requests or OLLAMA_KEEP_ALIVE on the server (default 5m, -1 "
        'never unloads); preload with POST /api/generate {"model": "<name>"}',
        facts,
    )


def judge_context(f: OllamaFacts) -> CheckResult:
    title = "allocated context"
    m = _loaded(f, CONTEXT, title)
    if isinstance(m, CheckResult):
        return m
    alloc = m.context_length
    if alloc is None:
        return CheckResult(
            CONTEXT,
            title,
            "skipped",
            f"Ollama {f.version or '(version unknown)'} does not say the allocated context in /api/ps "
            "(it does from 0.9.7)",
            "upgrade Ollama, or set num_ctx yourself so you know what you get",
        )
    trained = f.card.trained_context if f.card else None
    facts = {"context_length": alloc, "trained_context": trained}
    if trained is None:
        return CheckResult(
            CONTEXT,
            title,
            "pass",
            f"{alloc} tokens allocated; /api/show gives no trained context",
            facts=facts,
        )
    if alloc * 2 > trained:
        return CheckResult(
            CONTEXT,
            title,
            "pass",
            f"{alloc} tokens allocated of the {trained} the model was trained for",
            facts=facts,
        )
    set_by = (
        f"the Modelfile sets num_ctx {f.card.modelfile_num_ctx}"
        if f.card and f.card.modelfile_num_ctx
        else "Ollama's default, sized by GPU memory, unless OLLAMA_CONTEXT_LENGTH or num_ctx set it"
    )
    return CheckResult(
        CONTEXT,
        title,
        "warn",
        f"Ollama allocated {alloc} tokens of context; the model was trained for {trained} ({set_by}): "
        f"a prompt longer than {alloc} tokens is cut without an error",
        "raise it: options.num_ctx in each request, `PARAMETER num_ctx N` in a Modelfile, or "
        "OLLAMA_CONTEXT_LENGTH=N for the server; more context takes more memory, so check ollama-split after",
        facts,
    )


def judge_server_timing(r: RequestRecord) -> CheckResult:
    """Ollama's decode rate for `r` against the client's view of the same request."""
    title = "server timing vs client"
    if not r.ok:
        return CheckResult(
            TIMING,
            title,
            "fail",
            f"native /api/chat failed: {r.error_kind}: {server_message(r.error_message)}",
            LOG_HINT,
        )
    t = OllamaTiming.from_server_timing(r.server_timing)
    server = t.decode_tok_s if t else None
    if t is None or server is None:
        return CheckResult(TIMING, title, "warn", "the final chunk carried no eval_count/eval_duration")
    client = decode_tok_s(r)
    facts = {
        "server_decode_tok_s": server,
        "client_decode_tok_s": client,
        "server_ttft_ms": t.server_ttft_ms,
        "client_ttft_ms": ttft_ms(r),
        **{k: v for k, v in t.as_server_timing().items() if k != "source"},
    }
    ev = (
        f"Ollama: {t.eval_count} tokens in {t.eval_duration_ms:.0f} ms = {server:.1f} tok/s decode, "
        f"prompt {t.prompt_eval_count} tokens in {t.prompt_eval_duration_ms:.1f} ms"
    )
    if client is None:
        return CheckResult(TIMING, title, "pass", f"{ev}; too few chunks to time on the client", facts=facts)
    ratio = client / server
    ev += f"; the client saw {client:.1f} tok/s ({ratio:.0%} of Ollama's)"
    low, high = RATE_AGREEMENT
    if ratio < low:
        fix = (
            "tokens reach the client slower than Ollama makes them: a proxy, the network or a busy "
            "client machine; measure next to the server to tell them apart"
        )
        return CheckResult(TIMING, title, "warn", ev, fix, facts)
    if ratio > high:
        fix = (
            "chunks reach the client in bursts (a buffering proxy?): its per-token timing is not the server's"
        )
        return CheckResult(TIMING, title, "warn", ev, fix, facts)
    return CheckResult(TIMING, title, "pass", ev, facts=facts)
