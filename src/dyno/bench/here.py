"""What is fast on this machine: the CPU's own matmul rates and what this store measured here.

`dyno doctor`, `dyno plan --hardware cpu` and the demo's closing lines say it, so a user on a
CPU without native bf16 learns that float32 or llama-server serve the same model faster instead
of having to find it. Every figure is a measurement: the CPU probe's rates (catalog/cpu.py) and
the decode and first-token figures of the bench runs stored from this CPU model. Nothing is
said that was not measured; where nothing was, the line says what to run.
"""

from __future__ import annotations

from dataclasses import dataclass

from dyno.bench.summary import summarize_run
from dyno.catalog import get_hardware
from dyno.catalog.cpu import CPU_ID
from dyno.catalog.isa import cpu_model, missing_bf16
from dyno.catalog.types import Hardware
from dyno.provenance import hardware
from dyno.recipe.model import flag_value
from dyno.settings import Settings
from dyno.store import RunRow, Store

RECENT_RUNS = 50  # enough history to find each engine's last run, cheap to summarize


@dataclass(frozen=True)
class Served:
    """One stored run's single-stream figures on this CPU, with what served them."""

    run_id: int
    label: str  # "vLLM bfloat16", "vLLM float32", "llama-server"
    decode_tok_s: float | None
    ttft_ms: float | None


def _label(run: RunRow) -> str | None:
    if run.engine == "llama.cpp":
        return "llama-server"
    if run.engine != "vllm":
        return None
    dtype = flag_value(run.flags, "--dtype")
    upcast = isinstance(dtype, str) and dtype not in ("auto", "bfloat16", "bf16")
    return f"vLLM {dtype if upcast else 'bfloat16'}"


def _figures(store: Store, run: RunRow, label: str) -> Served | None:
    rep = summarize_run(store, run.id)
    decode = rep.scenario("decode")
    dec = [r.mean for r in decode.rows if r.metric == "decode_tok_s" and r.mean] if decode else []
    ttft = rep.scenario("ttft")
    short = (
        [r.median for r in ttft.rows if r.metric == "ttft_ms" and r.label == "short" and r.median]
        if ttft
        else []
    )
    if not dec and not short:
        return None
    return Served(run.id, label, dec[0] if dec else None, short[0] if short else None)


def served_here(store: Store, model: str | None = None) -> list[Served]:
    """The latest stored bench run per engine and dtype measured on this CPU model (of `model`, if given)."""
    here = cpu_model()
    seen: dict[str, Served] = {}
    for run in store.list_runs(limit=RECENT_RUNS):
        if run.kind not in ("bench", "demo") or run.status not in ("complete", "partial"):
            continue
        if (run.hardware or {}).get("cpu_model") != here:
            continue
        if (run.hardware or {}).get("gpus") or (model is not None and run.model != model):
            continue
        label = _label(run)
        if label is None or label in seen:
            continue  # runs come newest first: the latest of each wins
        if (got := _figures(store, run, label)) is not None:
            seen[label] = got
    order = ("vLLM bfloat16", "vLLM float32", "llama-server")
    return sorted(seen.values(), key=lambda s: order.index(s.label) if s.label in order else len(order))


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def fast_here(hardware: Hardware, served: list[Served]) -> list[str]:
    """Plain lines: why bf16 is slow here (when it is), and which measured config serves fastest."""
    lines: list[str] = []
    bf16, fp32 = hardware.matmul_rate("bfloat16"), hardware.matmul_rate("float32")
    if hardware.native_bf16 is False and bf16 is not None and fp32 is not None:
        lines.append(
            f"bf16 is emulated on this CPU ({missing_bf16(hardware.isa_flags)}): one core's bf16 matmuls run "
            f"at {bf16.decode_gflop_s:.1f} GFLOP/s at decode and {bf16.prefill_gflop_s:.1f} at prefill, "
            f"float32's at {fp32.decode_gflop_s:.1f} and {fp32.prefill_gflop_s:.1f} "
            f"({fp32.decode_gflop_s / bf16.decode_gflop_s:.1f}x and "
            f"{fp32.prefill_gflop_s / bf16.prefill_gflop_s:.1f}x)"
        )
    elif hardware.native_bf16:
        lines.append(
            "bf16 runs on native instructions on this CPU: vLLM's bf16 default is the right dtype here"
        )
    by = {s.label: s for s in served}
    base = by.get("vLLM bfloat16")
    for s in served:
        fig = [
            f"decode {s.decode_tok_s:.1f} tok/s" if s.decode_tok_s else "",
            f"TTFT {s.ttft_ms:.0f} ms" if s.ttft_ms else "",
        ]
        said = ", ".join(f for f in fig if f)
        vs = ""
        if base is not None and s is not base:
            d, t = _ratio(s.decode_tok_s, base.decode_tok_s), _ratio(base.ttft_ms, s.ttft_ms)
            parts = [f"{d:.1f}x the decode" if d else "", f"{t:.1f}x faster to first token" if t else ""]
            vs = "; " + " and ".join(p for p in parts if p) + " of vLLM bfloat16" if any(parts) else ""
        lines.append(f"measured: {s.label} {said} (run {s.run_id}){vs}")
    best = max((s for s in served if s.decode_tok_s), key=lambda s: s.decode_tok_s or 0.0, default=None)
    if best is not None and base is not None and best is not base:
        how = (
            "`dyno up smollm2-llama`"
            if best.label == "llama-server"
            else "`dyno up smollm2-fp32`, or `--dtype float32`"
        )
        lines.append(f"fastest measured: {best.label} ({how}); vLLM stays the default engine")
    elif hardware.native_bf16 is False and all(s is base for s in served):  # nothing else measured yet
        lines.append(
            "to measure the alternatives: `dyno bench smollm2-fp32` (vLLM in float32), "
            "`dyno bench smollm2-llama` (llama-server), or `dyno tune smollm2 --sweep dtype=bfloat16,float32`"
        )
    return lines


def advice(settings: Settings, model: str | None = None) -> list[str]:
    """fast_here for this machine's CPU entry (measured, and cached, on first use) and this store.

    Empty on a machine with a GPU: the CPU's rates say nothing about what serves fastest there.
    """
    if hardware().get("gpus"):
        return []
    with Store(settings.db_path) as store:
        served = served_here(store, model)
    return fast_here(get_hardware(CPU_ID, cpu_cache=settings.cache_dir), served)
