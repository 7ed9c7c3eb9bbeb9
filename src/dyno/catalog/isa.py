"""What this CPU is and which instructions it has: the facts that decide which dtype is fast here.

A CPU without native bf16 instructions (x86 without AVX512-BF16 or AMX, Arm without
FEAT_BF16) emulates bf16 matmuls by converting to float32, so the bf16 path can be far
slower than the float32 one even though it reads half the bytes. The flags come from
/proc/cpuinfo (`flags` on x86, `Features` on Arm); elsewhere they are unknown, never guessed.
"""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

# The flags that change which kernels an engine can use (x86 first, then Arm).
ISA_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "sve",
    "sve2",
    "bf16",
    "i8mm",
)
X86_NATIVE_BF16 = ("avx512_bf16", "amx_bf16")
ARM_NATIVE_BF16 = ("bf16",)


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("model name", "Model name")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def isa_flags(cpuinfo: Path = CPUINFO) -> tuple[str, ...] | None:
    """The ISA_FLAGS this CPU lists, in ISA_FLAGS order; None when no cpuinfo can be read."""
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("flags", "Features")):
                have = set(line.split(":", 1)[1].split())
                return tuple(f for f in ISA_FLAGS if f in have)
    return None


def native_bf16(flags: tuple[str, ...] | None) -> bool | None:
    """Whether bf16 matmuls run on bf16 instructions here (None: the flags are unknown)."""
    if flags is None:
        return None
    return any(f in flags for f in X86_NATIVE_BF16 + ARM_NATIVE_BF16)


def missing_bf16(flags: tuple[str, ...] | None) -> str:
    """What a bf16 path lacks on a CPU like this one, for a sentence: 'no AVX512-BF16/AMX'."""
    arm = flags is not None and "asimd" in flags
    return "no FEAT_BF16" if arm else "no AVX512-BF16/AMX"
