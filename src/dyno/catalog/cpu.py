"""The `cpu` hardware entry: this machine, measured rather than looked up.

vLLM's CPU backend runs the model on one core here (it reserves the others),
so the figure that bounds its decode is the read bandwidth a *single thread*
achieves. The probe streams a buffer several times the size of the last-level
cache through a single-threaded numpy reduction and keeps the best of a few
passes: a ceiling wants the best the memory system did, not the average.
The matmul probe times one core's matmul rate per dtype (float32, bfloat16)
at a decode shape (one token) and a prefill shape (64 tokens) through the
kernel vLLM's CPU backend calls (its oneDNN GEMM when vLLM is importable,
else torch's linear): on a CPU without native bf16 the bf16 rate is a
fraction of float32's, and that, not bandwidth, bounds decode there.
Both take a few seconds and are cached under DYNO_HOME, keyed by the CPU
model and core count so a different machine measures afresh.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from dyno.catalog.isa import cpu_model, isa_flags, native_bf16
from dyno.catalog.types import Hardware, MatmulRate

CPU_ID = "cpu"
CACHE_FILE = "cpu-bandwidth.json"
PROBE_BYTES = 256 * 1024 * 1024  # 8x a 32 MiB L3: the reads must come from DRAM
PROBE_PASSES = 5
GEMM_N = 768  # a small float32 GEMM: enough to time, cheap on two cores
CACHE_VERSION = 2
# One MLP up-projection of the embedded model (hidden 576 -> 1536): tokens x in -> out.
MATMUL_IN, MATMUL_OUT = 576, 1536
DECODE_TOKENS, PREFILL_TOKENS = 1, 64
MATMUL_DTYPES = ("float32", "bfloat16")
MATMUL_SECONDS = 0.15  # per timed pass; best of 3 passes


def measure_read_bandwidth_gb_s(nbytes: int = PROBE_BYTES, passes: int = PROBE_PASSES) -> float:
    """Best single-thread read bandwidth over `passes` reductions of an `nbytes` buffer."""
    import numpy as np  # only when measuring: keeps `import dyno` light

    buf = np.ones(nbytes // 8, dtype=np.float64)
    best = 0.0
    for _ in range(passes):
        t0 = time.perf_counter()
        # float64 sum is a single-threaded, vectorised streaming read in numpy
        buf.sum()
        dt = time.perf_counter() - t0
        best = max(best, buf.nbytes / dt / 1e9)
    return best


def measure_gemm_tflops(n: int = GEMM_N, passes: int = 3) -> float:
    """Best float32 GEMM rate numpy's BLAS reaches (a stand-in for the CPU's BF16 matmul rate)."""
    import numpy as np

    a = np.ones((n, n), dtype=np.float32)
    best = 0.0
    for _ in range(passes):
        t0 = time.perf_counter()
        a @ a
        dt = time.perf_counter() - t0
        best = max(best, 2 * n**3 / dt / 1e12)
    return best


def _linear(torch: Any) -> Callable[[Any, Any], tuple[Callable[[], Any], str]]:
    """The GEMM vLLM's CPU backend would run for a weight: its oneDNN handle where one can be
    made for the dtype, else torch's linear, as vLLM itself falls back (layers/utils.py,
    dispatch_cpu_unquantized_gemm: oneDNN has no bf16 matmul on a CPU without bf16 instructions)."""
    import torch.nn.functional as F

    try:
        from vllm import _custom_ops as ops

        onednn = bool(getattr(ops, "_supports_onednn", False))
    except Exception:  # vLLM absent or broken: torch's linear is what is measured
        onednn = False

    def make(x: Any, w: Any) -> tuple[Callable[[], Any], str]:
        if onednn:
            try:
                handle = ops.create_onednn_mm(w.t(), 32)
                return (lambda: ops.onednn_mm(handle, x, None)), "vLLM's oneDNN GEMM"
            except RuntimeError:
                pass
        return (lambda: F.linear(x, w)), f"torch {torch.__version__} linear"

    return make


def _best_rate(fn: Callable[[], Any], flops: float) -> float:
    fn()  # the first call packs weights and warms caches
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while (dt := time.perf_counter() - t0) < MATMUL_SECONDS:
            fn()
            n += 1
        best = max(best, n * flops / dt / 1e9)
    return best


def measure_matmul() -> tuple[list[dict[str, object]], str]:
    """One core's matmul rate per dtype at the decode and prefill shapes, and how it was measured."""
    try:
        import torch
    except ImportError:
        import numpy as np

        def numpy_mm(tokens: int) -> Callable[[], object]:
            a = np.ones((tokens, MATMUL_IN), dtype=np.float32)
            b = np.ones((MATMUL_IN, MATMUL_OUT), dtype=np.float32)
            return lambda: a @ b

        rates = [
            _best_rate(numpy_mm(t), 2 * t * MATMUL_IN * MATMUL_OUT) for t in (DECODE_TOKENS, PREFILL_TOKENS)
        ]
        row = {"dtype": "float32", "decode_gflop_s": rates[0], "prefill_gflop_s": rates[1], "kernel": "numpy"}
        return [row], "numpy float32 (torch is not installed here: bf16 not measured)"
    make = _linear(torch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # vLLM's CPU worker computes on one core here
    out = []
    try:
        for name in MATMUL_DTYPES:
            dtype = getattr(torch, name)
            got: dict[str, object] = {"dtype": name}
            for key, tokens in (("decode_gflop_s", DECODE_TOKENS), ("prefill_gflop_s", PREFILL_TOKENS)):
                x = torch.randn(tokens, MATMUL_IN).to(dtype)
                w = torch.randn(MATMUL_OUT, MATMUL_IN).to(dtype)
                fn, got["kernel"] = make(x, w)
                got[key] = _best_rate(fn, 2 * tokens * MATMUL_IN * MATMUL_OUT)
            out.append(got)
    finally:
        torch.set_num_threads(threads)
    kernels = "; ".join(f"{r['dtype']}: {r['kernel']}" for r in out)
    return (
        out,
        f"{kernels}; one thread, {MATMUL_IN}->{MATMUL_OUT} at {DECODE_TOKENS} and {PREFILL_TOKENS} tokens",
    )


def _key() -> dict[str, object]:
    return {"version": CACHE_VERSION, "cpu_model": cpu_model(), "cores": os.cpu_count()}


def _probe() -> dict[str, object]:
    matmul, how = measure_matmul()
    return {
        **_key(),
        "isa_flags": list(flags) if (flags := isa_flags()) is not None else None,  # as the JSON reads back
        "memory_gb": psutil.virtual_memory().total / 1e9,
        "memory_bandwidth_gb_s": measure_read_bandwidth_gb_s(),
        "bf16_dense_tflops": measure_gemm_tflops(),
        "matmul": matmul,
        "matmul_method": how,
        "measured_at": time.time(),
    }


def load_or_measure(cache_dir: Path | None) -> dict[str, object]:
    """The cached probe result for this CPU, measuring (and caching) when there is none."""
    path = cache_dir / CACHE_FILE if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and all(data.get(k) == v for k, v in _key().items()):
                return data
        except (OSError, json.JSONDecodeError):
            pass  # a damaged cache is measured again
    data = _probe()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
    return data


def _matmul_rates(data: dict[str, object]) -> tuple[MatmulRate, ...]:
    rows = data.get("matmul")
    if not isinstance(rows, list):
        return ()
    return tuple(
        MatmulRate(str(r["dtype"]), float(r["decode_gflop_s"]), float(r["prefill_gflop_s"]))
        for r in rows
        if isinstance(r, dict)
    )


def cpu_hardware(cache_dir: Path | None) -> Hardware:
    data = load_or_measure(cache_dir)
    how = f"numpy probe on this machine ({data['cpu_model']}, {data['cores']} cores)"
    raw_flags = data.get("isa_flags")
    flags = tuple(str(f) for f in raw_flags) if isinstance(raw_flags, list) else None
    return Hardware(
        id=CPU_ID,
        name=f"this machine's CPU ({data['cpu_model']})",
        aliases=(),
        memory_gb=float(str(data["memory_gb"])),
        memory_bandwidth_gb_s=float(str(data["memory_bandwidth_gb_s"])),
        unified_memory=True,  # the model shares RAM with the OS and everything else
        compute_capability=None,
        native_fp8=False,
        native_fp4_moe=False,
        bf16_dense_tflops=float(str(data["bf16_dense_tflops"])),
        cuda_device_name=None,
        isa_flags=flags,
        native_bf16=native_bf16(flags),
        matmul=_matmul_rates(data),
        runtime_overhead_gb=0.5,
        os_headroom_gb=2.0,
        sources={"memory_gb": "psutil.virtual_memory().total"},
        estimated={
            "runtime_overhead_gb": "vLLM CPU worker: Python, torch and activations",
            "os_headroom_gb": "what the OS and the rest of the machine need",
            "bf16_dense_tflops": "float32 GEMM through numpy's BLAS stands in for vLLM's BF16 matmul rate",
        },
        measured={
            "memory_bandwidth_gb_s": f"best single-thread streaming read of {PROBE_BYTES >> 20} MiB, "
            f"{PROBE_PASSES} passes, {how}",
            "bf16_dense_tflops": f"best of 3 float32 {GEMM_N}x{GEMM_N} GEMMs, {how}",
            "matmul": f"{data.get('matmul_method')}, best of 3 passes of {MATMUL_SECONDS} s",
            "isa_flags": "/proc/cpuinfo",
        },
    )
