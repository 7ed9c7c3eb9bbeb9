"""Writes the store could not take yet: held in order, retried, spilled to a file, replayed later.

A measurement that finished must not be lost because the disk filled up, or
another dyno held the database locked past the busy timeout. Such a write is
held (in memory, in order) and every later write first retries the held ones.
When the store closes with writes still held, they are spilled as JSON lines
to the first folder that takes them (DYNO_HOME/spill, else the system's temp
folder); the next time dyno opens that store it replays them and deletes the
file. A scenario row inserted while held gets a provisional (negative) id, so
the update that finishes it can be held too and resolved on replay.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# SQLite messages of errors that pass: a full disk, a lock held by another writer, a read-only file.
_TRANSIENT = ("locked", "busy", "full", "disk i/o", "readonly", "read-only", "unable to open")


def transient(e: sqlite3.Error) -> bool:
    msg = str(e).lower()
    return isinstance(e, sqlite3.OperationalError | sqlite3.DatabaseError) and any(
        t in msg for t in _TRANSIENT
    )


@dataclass(frozen=True)
class Pending:
    sql: str
    params: tuple[Any, ...]
    provisional: int | None = None  # an INSERT whose row id stands in for this provisional id
    ref_index: int | None = None  # the param holding a scenario id that may be provisional


def spill_dirs(db_path: Path) -> list[Path]:
    return [db_path.parent / "spill", Path(tempfile.gettempdir())]


def spill_name(db_path: Path) -> str:
    digest = hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:12]
    return f"dyno-spill-{digest}"


class HeldWrites:
    """The writes a store is holding, and the ids it has resolved."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.pending: list[Pending] = []
        self.ids: dict[int, int] = {}  # provisional -> real
        self._next_provisional = -1
        self.last_error: str | None = None

    def provisional_id(self) -> int:
        pid = self._next_provisional
        self._next_provisional -= 1
        return pid

    def resolve(self, p: Pending) -> tuple[Any, ...] | None:
        """The params with a provisional scenario id replaced; None while its insert is still held."""
        if p.ref_index is None:
            return p.params
        ref = p.params[p.ref_index]
        if isinstance(ref, int) and ref < 0:
            if ref not in self.ids:
                return None
            params = list(p.params)
            params[p.ref_index] = self.ids[ref]
            return tuple(params)
        return p.params

    def apply(self, db: sqlite3.Connection, p: Pending) -> int | None:
        params = self.resolve(p)
        if params is None:
            raise sqlite3.OperationalError("held: its scenario row is not written yet (readonly)")
        cur = db.execute(p.sql, params)
        if p.provisional is not None and cur.lastrowid is not None:
            self.ids[p.provisional] = cur.lastrowid
        return cur.lastrowid

    def flush(self, db: sqlite3.Connection) -> bool:
        """Retry the held writes in order; True when none is left."""
        while self.pending:
            try:
                self.apply(db, self.pending[0])
            except sqlite3.Error as e:
                if not transient(e):
                    raise
                self.last_error = str(e)
                return False
            self.pending.pop(0)
        return True

    def spill(self) -> Path | None:
        """Write the held writes to a file the next open will replay; None when no folder takes them."""
        lines = "".join(
            json.dumps(
                {"sql": p.sql, "params": list(p.params), "provisional": p.provisional, "ref": p.ref_index}
            )
            + "\n"
            for p in self.pending
        )
        for folder in spill_dirs(self.db_path):
            path = folder / f"{spill_name(self.db_path)}-{time.time_ns()}.jsonl"
            tmp = path.with_suffix(".part")
            try:
                folder.mkdir(parents=True, exist_ok=True)
                tmp.write_text(lines)
                tmp.replace(path)
            except OSError:
                tmp.unlink(missing_ok=True)  # a half-written spill is no use to anyone
                continue
            return path
        return None


def replay_spills(db: sqlite3.Connection, db_path: Path) -> int:
    """Apply every spill file left for this store, oldest first; returns how many writes were replayed."""
    files: list[Path] = []
    for folder in spill_dirs(db_path):
        if folder.is_dir():
            files += folder.glob(f"{spill_name(db_path)}-*.jsonl")
    n = 0
    for path in sorted(files, key=lambda p: p.name):
        held = HeldWrites(db_path)
        for line in path.read_text().splitlines():
            d = json.loads(line)
            held.pending.append(Pending(d["sql"], tuple(d["params"]), d["provisional"], d["ref"]))
        count = len(held.pending)
        db.execute("BEGIN")
        try:
            if not held.flush(db):
                db.execute("ROLLBACK")
                continue  # still no room: try again next time
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        path.unlink()
        n += count
    return n
