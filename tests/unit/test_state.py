import os
import subprocess
import sys
import time

from dyno.engine.state import (
    EngineState,
    clear_state,
    liveness,
    read_state,
    state_path,
    write_state,
)
from dyno.settings import Settings


def _state(pid: int, create_time: float) -> EngineState:
    return EngineState(
        profile="p",
        pid=pid,
        pgid=pid,
        create_time=create_time,
        host="127.0.0.1",
        port=1,
        served_name="m",
        model="m",
        recipe={},
        command=["vllm"],
        log_path="/x",
        started_at=time.time(),
    )


def test_round_trip_and_clear() -> None:
    s = Settings.from_env()
    assert read_state(s) is None
    st = _state(os.getpid(), 0.0)
    write_state(s, st)
    assert read_state(s) == st
    clear_state(s)
    assert read_state(s) is None


def test_live_process_is_alive() -> None:
    import psutil

    me = psutil.Process()
    assert liveness(_state(me.pid, me.create_time())).alive


def test_dead_pid_is_stale() -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    life = liveness(_state(p.pid, time.time()))
    assert not life.alive
    assert "gone" in life.reason


def test_reused_pid_is_not_trusted() -> None:
    # Our own pid is alive, but with another create time it is "another process".
    life = liveness(_state(os.getpid(), 12345.0))
    assert not life.alive
    assert "another process" in life.reason


def test_corrupt_state_file_is_ignored_and_kept_aside() -> None:
    s = Settings.from_env().ensure()
    state_path(s).write_text("{not json")
    assert read_state(s) is None
    assert state_path(s).with_suffix(".corrupt").exists()
