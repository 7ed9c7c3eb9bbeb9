"""The `cpu` hardware entry: this machine, measured rather than looked up.

vLLM's CPU backend runs the model on one core here (it reserves the others),
so the figure that bounds its decode is the read bandwidth a *single thread*
achieves. The probe streams a buffer several times the size of the last-level
cache through a single-threaded numpy reduction and keeps the best of a few
passes: a ceiling wants the best the memory system did, not the average.
It takes well under two seconds and is cached under DYNO_HOME, keyed by the
CPU model and core count so a different machine measures afresh.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import psutil

from dyno.catalog.types import Hardware

CPU_ID = "cpu"
CACHE_FILE = "cpu-bandwidth.json"
PROBE_BYTES = 256 * 1024 * 1024  # 8x a 32 MiB L3: the reads must come from DRAM
PROBE_PASSES = 5
GEMM_N = 768  # a small float32 GEMM: enough to time, cheap on two cores
CACHE_VERSION = 1


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def _key() -> dict[str, object]:
    return {"version": CACHE_VERSION, "cpu_model": _cpu_model(), "cores": os.cpu_count()}


def _probe() -> dict[str, object]:
    return {
        **_key(),
        "memory_gb": psutil.virtual_memory().total / 1e9,
        "memory_bandwidth_gb_s": measure_read_bandwidth_gb_s(),
        "bf16_dense_tflops": measure_gemm_tflops(),
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


def cpu_hardware(cache_dir: Path | None) -> Hardware:
    data = load_or_measure(cache_dir)
    how = f"numpy probe on this machine ({data['cpu_model']}, {data['cores']} cores)"
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
        },
    )
