"""The store when the machine says no: corrupt file, read-only home, a lock held by another writer, a full disk.

Each gives a clear error that names the path and what to do, never a
traceback, and loses no finished measurement. The full disk is real: a small
tmpfs (or, where mounting is not allowed, RLIMIT_FSIZE on the writing process).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dyno.client.records import RequestRecord
from dyno.errors import StoreError
from dyno.settings import Settings
from dyno.store import Store
from dyno.store.held import spill_dirs, spill_name
from tests.fixtures.pacing import StartPacing


def dyno(home: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DYNO_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,  # type: ignore[call-overload]
    )


def _can_mount() -> bool:
    probe = Path(tempfile.mkdtemp(prefix="dyno-mnt-"))
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True)
    if ok.returncode == 0:
        subprocess.run(["umount", str(probe)], check=False)
    probe.rmdir()
    return ok.returncode == 0


CAN_MOUNT = _can_mount()


@contextlib.contextmanager
def small_fs(where: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_corrupt_db_file_is_a_clear_error_that_says_what_to_do(dyno_home: Path) -> None:
    dyno_home.mkdir(parents=True, exist_ok=True)
    (dyno_home / "dyno.db").write_bytes(b"this is not sqlite" * 100)
    out = dyno(dyno_home, "runs")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    msg = " ".join(out.stderr.split())
    assert "is not a readable SQLite database" in msg and "mv " in msg and str(dyno_home / "dyno.db") in msg


def test_a_read_only_home_is_a_clear_error(tmp_path: Path, pacing_server: StartPacing) -> None:
    srv = pacing_server()
    home = tmp_path / "ro-home"
    if CAN_MOUNT:
        ctx: contextlib.AbstractContextManager[Path] = small_fs(home, "1m", read_only=True)
    else:  # not root: a folder without write permission reads the same to SQLite
        home.mkdir()
        home.chmod(0o555)
        ctx = contextlib.nullcontext(home)
    with ctx:
        out = dyno(home, "bench", srv.url, "--scenario", "decode", "--repeat", "1")
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout
    msg = " ".join(out.stderr.split())
    assert str(home) in msg and "writable" in msg


def test_a_lock_held_by_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "dyno.db"
    Store(path).close()  # migrated
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        # Reading still works (WAL); a new run, which has measured nothing yet, is refused clearly.
        with Store(path, busy_timeout_s=0.2) as blocked:
            assert blocked.list_runs() == []
            with pytest.raises(StoreError, match="locked by another process"):
                blocked.start_run(kind="bench")
    finally:
        other.execute("COMMIT")
    # Taken during a run: the writes wait in order, and reach the store once the lock is gone.
    store = Store(path, busy_timeout_s=0.2)
    run = store.start_run(kind="bench")
    other.execute("BEGIN EXCLUSIVE")
    for i in range(3):
        store.add_request(run, RequestRecord(params={}, t_sent_ns=i, scenario="s", seq=i))
    assert store.holding == 3
    other.execute("COMMIT")
    store.add_request(run, RequestRecord(params={}, t_sent_ns=3, scenario="s", seq=3))
    assert store.holding == 0
    assert [r.seq for r in store.requests(run)] == [0, 1, 2, 3]
    store.close()


def _fill(folder: Path) -> Path:
    """Write a file until the filesystem refuses: the disk is now full."""
    filler = folder / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_mid_run_loses_no_finished_measurement(
    tmp_path: Path, pacing_server: StartPacing
) -> None:
    srv = pacing_server(ttft_s=0.005, itl_s=0.002)  # 128 tokens in ~0.3 s
    home = tmp_path / "small-home"
    args = ("bench", srv.url, "--scenario", "decode", "--repeat", "12")
    env = {**os.environ, "DYNO_HOME": str(home), "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "dyno.cli", *args]
    with contextlib.ExitStack() as stack:
        if CAN_MOUNT:
            stack.enter_context(small_fs(home, "2m"))
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            db = home / "dyno.db"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the run is under way: now the disk fills up
                with contextlib.suppress(Exception), Store(db) as store:
                    rid = store.latest_run_id()
                    if rid is not None and len(store.requests(rid)) >= 3:
                        break
                time.sleep(0.05)
            filler = _fill(home)
        else:
            home.mkdir()
            Store(home / "dyno.db").close()
            size = (home / "dyno.db").stat().st_size
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=lambda: _limit_file_size(size + 64 * 1024),
            )
            filler = None
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        assert "Traceback" not in err + out
        msg = " ".join(err.split())
        assert "could not reach the store" in msg and "saved in" in msg
        spills = [
            p for d in spill_dirs(home / "dyno.db") for p in d.glob(f"{spill_name(home / 'dyno.db')}-*")
        ]
        assert spills, msg
        if filler is not None:
            filler.unlink()  # space again
        # The next open replays the spill: every request the run finished is there, the run closed.
        with Store(home / "dyno.db") as store:
            run = store.get_run(store.latest_run_id() or 0)
            reqs = store.requests(run.id if run else 0)
        assert run is not None and run.status == "complete"
        assert len(reqs) == 13 and all(r.ok for r in reqs)  # 1 warm-up + 12 measured
        assert not [p for p in spills if p.exists()]


@pytest.fixture(autouse=True)
def _settings_home(dyno_home: Path) -> Settings:
    return Settings.from_env()
