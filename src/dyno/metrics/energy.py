"""GPU energy over a scenario's window, where NVML is readable: joules per output token, tokens per joule.

NVML's documented calls (nvidia-ml-py's `pynvml`):
- `nvmlDeviceGetTotalEnergyConsumption(handle)`: millijoules since the driver
  was last loaded (Volta and newer): a counter, so a window's energy is its
  delta; a counter lower after than before was reset (a driver reload), and
  that window's figure is dropped rather than guessed;
- `nvmlDeviceGetPowerUsage(handle)`: milliwatts now, for the idle draw
  measured before a run (what the box burns doing nothing, to set the
  per-token figure against).

This is the GPU rail only, never wall power (CPU, memory, fans and the PSU's
loss are not in it), and every figure says so. Without NVML (no GPU, no
driver, a CPU box like the one CI runs on) nothing is made up: the run says
"not measured here".
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LABEL = "GPU rail, not wall power"
NOT_MEASURED = "GPU energy: not measured here (no NVML: no NVIDIA GPU or driver readable)"


@dataclass(frozen=True)
class EnergyWindow:
    joules: float | None  # None: a counter went backwards (reset) on some GPU
    seconds: float
    gpus: int

    def per_token(self, output_tokens: int) -> tuple[float, float] | None:
        """(J per output token, output tokens per J), or None without both."""
        if self.joules is None or self.joules <= 0 or output_tokens <= 0:
            return None
        return self.joules / output_tokens, output_tokens / self.joules


class Nvml:
    """The GPUs NVML sees; `open()` gives None where NVML cannot be read."""

    def __init__(self, nvml: Any, handles: Sequence[Any]) -> None:
        self._nvml = nvml
        self._handles = list(handles)

    @classmethod
    def open(cls, nvml: Any = None) -> Nvml | None:
        """`nvml`: the pynvml module (a test's stand-in for it); by default nvidia-ml-py's."""
        try:
            lib: Any = nvml if nvml is not None else importlib.import_module("pynvml")
            lib.nvmlInit()
            handles = [lib.nvmlDeviceGetHandleByIndex(i) for i in range(lib.nvmlDeviceGetCount())]
            for h in handles:  # a GPU without the counter (pre-Volta) raises here, not mid-run
                lib.nvmlDeviceGetTotalEnergyConsumption(h)
        except (
            Exception
        ):  # NVMLError_LibraryNotFound, _NotSupported, _DriverNotLoaded, no module: not readable
            return None
        return cls(lib, handles) if handles else None

    @property
    def gpus(self) -> int:
        return len(self._handles)

    def energy_mj(self) -> list[int]:
        return [int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles]

    def power_w(self) -> float:
        return float(sum(self._nvml.nvmlDeviceGetPowerUsage(h) for h in self._handles)) / 1000.0

    def idle_w(self, seconds: float = 1.0, samples: int = 5) -> float:
        """The mean draw over `seconds` before any load (the median would hide a spike as well)."""
        reads = []
        for _ in range(samples):
            reads.append(self.power_w())
            time.sleep(seconds / samples)
        return sum(reads) / len(reads)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # shutting down a library that is going away anyway
            self._nvml.nvmlShutdown()


def window(before: Sequence[int], after: Sequence[int], seconds: float) -> EnergyWindow:
    """The energy between two counter readings of the same GPUs; a reset on any GPU drops the figure."""
    deltas = [a - b for a, b in zip(after, before, strict=True)]
    joules = None if any(d < 0 for d in deltas) else sum(deltas) / 1000.0
    return EnergyWindow(joules, seconds, len(deltas))
