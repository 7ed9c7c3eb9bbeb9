"""Which engine is up: one JSON file under DYNO_HOME, so separate shells agree.

The file is a claim, not a fact: every reader checks that the recorded pid is
alive *and* is the same process (its create time matches), so a pid reused by
the OS after the engine died is not mistaken for the engine.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psutil
from pydantic import BaseModel, ValidationError

from dyno.settings import Settings


class EngineState(BaseModel):
    profile: str
    pid: int
    pgid: int
    create_time: float  # psutil's create_time of pid, to detect pid reuse
    host: str
    port: int
    served_name: str
    model: str
    recipe: dict[str, Any]
    command: list[str]
    log_path: str
    started_at: float  # unix seconds
    ready_at: float | None = None
    phase: Literal["starting", "ready"] = "starting"
    engine_version: str | None = None
    facts: dict[str, Any] = {}

    @property
    def engine(self) -> str:
        return str(self.recipe.get("engine") or "vllm")

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


def state_path(settings: Settings) -> Path:
    return settings.state_dir / "engine.json"


def write_state(settings: Settings, state: EngineState) -> None:
    settings.ensure()
    path = state_path(settings)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(state.model_dump_json(indent=2))
    tmp.replace(path)  # atomic: a reader sees the old or the new file, never half


def read_state(settings: Settings) -> EngineState | None:
    path = state_path(settings)
    try:
        return EngineState.model_validate_json(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError):
        # A corrupt file is as good as none; keep it for a post-mortem.
        with contextlib.suppress(OSError):
            path.replace(path.with_suffix(".corrupt"))
        return None


def running_state(settings: Settings) -> EngineState | None:
    """The engine dyno runs here, when its recorded process is still that engine."""
    state = read_state(settings)
    return state if state is not None and liveness(state).alive else None


def clear_state(settings: Settings) -> None:
    state_path(settings).unlink(missing_ok=True)


def process_create_time(pid: int) -> float | None:
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(p.create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    out = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if os.getpgid(p.pid) == pgid:
                out.append(p.pid)
        except (ProcessLookupError, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


@dataclass(frozen=True)
class Liveness:
    alive: bool
    reason: str  # why we believe it: "running", "pid 123 no longer exists", ...
    leftover_pids: tuple[int, ...] = ()


def liveness(state: EngineState) -> Liveness:
    ct = process_create_time(state.pid)
    if ct is not None and abs(ct - state.create_time) < 1.0:
        return Liveness(True, "running")
    leftovers = tuple(group_members(state.pgid))
    if ct is None:
        reason = f"engine process {state.pid} is gone"
    else:
        reason = f"pid {state.pid} now belongs to another process (started {time.ctime(ct)})"
    return Liveness(False, reason, leftovers)
