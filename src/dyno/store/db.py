"""The SQLite system of record: runs with provenance, one row per request, raw.

Rows are written as they happen (a run row first, each request as it
finishes), so a run that dies keeps everything it measured.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from dyno import __version__
from dyno.client.records import RequestRecord
from dyno.errors import StoreError
from dyno.provenance import RunProvenance
from dyno.store.held import HeldWrites, Pending, replay_spills, transient
from dyno.store.migrations import MIGRATIONS, Migration
from dyno.store.rows import (
    REQUEST_INSERT,
    RUN_JSON_COLUMNS,
    TRIAL_JSON,
    CheckRow,
    RunRow,
    ScenarioRow,
    ScrapeRow,
    TrialRow,
    from_json,
    request_from_row,
    request_values,
    to_json,
)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet applied, in order; return their names."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    applied = []
    for name, fn in migrations:
        if name in done:
            continue
        # Each migration and its bookkeeping commit together or not at all.
        # Explicit BEGIN: in autocommit mode `with db:` would not open one. IMMEDIATE takes the
        # write lock first, and the check is repeated under it: two dyno processes opening a new
        # store at once must not both apply a migration.
        db.execute("BEGIN IMMEDIATE")
        if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
            db.execute("COMMIT")
            continue
        try:
            fn(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, _now_iso()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def _open_error(path: Path, e: BaseException) -> StoreError:
    """What a user can do about a store that will not open."""
    msg = str(e).lower()
    if isinstance(e, OSError) or "readonly" in msg or "unable to open" in msg or "read-only" in msg:
        return StoreError(
            f"cannot write the store at {path} ({e}): is DYNO_HOME ({path.parent}) read-only or not yours? "
            "Point DYNO_HOME at a writable folder, or fix the folder's permissions"
        )
    if "not a database" in msg or "malformed" in msg or "corrupt" in msg:
        return StoreError(
            f"the store at {path} is not a readable SQLite database ({e}): move it aside "
            f"(mv {path} {path}.bad) and dyno starts a new one; the old file is kept for recovery"
        )
    if "locked" in msg or "busy" in msg:
        return StoreError(
            f"the store at {path} is locked by another process ({e}); wait for the other dyno to finish, "
            "or point DYNO_HOME elsewhere"
        )
    if "full" in msg:
        return StoreError(f"the disk holding {path} is full ({e}); free some space there")
    return StoreError(f"cannot open the store at {path}: {e}")


def connect(path: Path, busy_timeout_s: float = 30.0) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
        db.row_factory = sqlite3.Row
        # WAL: `dyno runs` in another shell can read while a bench writes.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        migrate(db)
    except (sqlite3.Error, OSError) as e:
        raise _open_error(path, e) from e
    return db


def _owner_alive(pid: int | None, create_time: float | None) -> bool:
    if pid is None or create_time is None:
        return False
    try:
        return bool(abs(psutil.Process(pid).create_time() - create_time) < 1.0)
    except psutil.Error:
        return False


class Store:
    """The store. Writes never lose a finished measurement: see store/held.py."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self.db = connect(path, busy_timeout_s)
        self.held = HeldWrites(path)
        try:
            self.replayed = replay_spills(self.db, path)
            self.abandoned = self._close_abandoned()
        except sqlite3.Error as e:
            if not transient(e):
                self.db.close()
                raise _open_error(path, e) from e
            self.replayed, self.abandoned = 0, []  # read-only or full: reading still works

    def close(self) -> None:
        """Close; writes still held are retried, then spilled to a file, and the error says where."""
        try:
            for _ in range(5):
                if not self.held.pending or self.held.flush(self.db):
                    break
                time.sleep(0.5)
            if self.held.pending:
                n = len(self.held.pending)
                spilled = self.held.spill()
                where = (
                    f"they are saved in {spilled} and go into the store the next time dyno opens it"
                    if spilled
                    else "no folder would take a spill file either, so they are lost"
                )
                raise StoreError(
                    f"{n} writes could not reach the store at {self.path} ({self.held.last_error}); "
                    f"{where}. Free space on that disk (or end the other writer) and run `dyno runs`"
                )
        finally:
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(
        self, sql: str, params: tuple[Any, ...], *, provisional: int | None = None, ref: int | None = None
    ) -> int | None:
        """Write now, or hold the write (in order) when the disk or a lock says no."""
        p = Pending(sql, params, provisional, ref)
        if self.held.pending and not self.held.flush(self.db):
            self.held.pending.append(p)
            return None
        try:
            return self.held.apply(self.db, p)
        except sqlite3.Error as e:
            if not transient(e):
                raise StoreError(f"the store at {self.path} refused a write: {e}") from e
            self.held.last_error = str(e)
            self.held.pending.append(p)
            return None

    @property
    def holding(self) -> int:
        """Writes waiting for the disk or a lock."""
        return len(self.held.pending)

    def _close_abandoned(self) -> list[int]:
        """Runs left `running` by a dyno that died without closing them (SIGKILL, power loss)."""
        rows = self.db.execute(
            "SELECT id, pid, pid_create_time FROM runs WHERE status = 'running'"
        ).fetchall()
        dead = [r[0] for r in rows if not _owner_alive(r[1], r[2])]
        for run_id, pid, _ct in (r for r in rows if r[0] in dead):
            who = f"pid {pid}" if pid is not None else "a dyno that did not record its pid"
            self.db.execute(
                "UPDATE runs SET status = 'abandoned', finished_at = ?, note = ?"
                " WHERE id = ? AND status = 'running'",
                (
                    _now_iso(),
                    f"abandoned: the dyno process that wrote this run ({who}) died without closing it "
                    "(SIGKILL or power loss); its finished rows are kept",
                    run_id,
                ),
            )
        return dead

    def start_run(
        self,
        *,
        kind: str,
        prov: RunProvenance | None = None,
        method: dict[str, Any] | None = None,
        clock: tuple[int, int] | None = None,
    ) -> int:
        """A new run in state `running`, owned by this process (so a dead owner can be told)."""
        p = prov or RunProvenance()
        wall, perf = clock or (time.time_ns(), time.perf_counter_ns())
        me = psutil.Process()
        try:
            cur = self.db.execute(
                "INSERT INTO runs (kind, status, started_at, dyno_version, endpoint, engine, engine_version,"
                " model, launch_config, hardware, method, server_info, clock_wall_ns, clock_perf_ns, pid,"
                " pid_create_time, key_properties, ceiling)"
                " VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    _now_iso(),
                    __version__,
                    p.endpoint,
                    p.engine,
                    p.engine_version,
                    p.model,
                    to_json(p.launch_config),
                    to_json(p.hardware),
                    to_json(method),
                    to_json(p.server_info),
                    wall,
                    perf,
                    me.pid,
                    me.create_time(),
                    to_json(p.key_properties),
                    to_json(p.ceiling),
                ),
            )
        except sqlite3.Error as e:
            # Nothing is measured yet: refusing here loses nothing.
            raise _open_error(self.path, e) from e
        if cur.lastrowid is None:
            raise StoreError(f"{self.path}: the new run got no id")
        return cur.lastrowid

    def update_run(self, run_id: int, **fields: Any) -> None:
        allowed = {
            "engine",
            "engine_version",
            "model",
            "launch_config",
            "hardware",
            "method",
            "server_info",
            "note",
            "endpoint",
            "key_properties",
            "ceiling",
        }
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot update {bad}")
        for k, v in fields.items():
            val = to_json(v) if isinstance(v, dict | list) else v
            self._write(f"UPDATE runs SET {k} = ? WHERE id = ?", (val, run_id))

    def finish_run(self, run_id: int, status: str, note: str | None = None) -> None:
        self._write(
            "UPDATE runs SET status = ?, finished_at = ?, note = COALESCE(?, note) WHERE id = ?",
            (status, _now_iso(), note, run_id),
        )

    def add_request(self, run_id: int, r: RequestRecord) -> None:
        self._write(REQUEST_INSERT, request_values(run_id, r))

    def start_scenario(self, run_id: int, name: str, config: dict[str, Any]) -> int:
        """The scenario's id; a provisional (negative) one while the write is held."""
        provisional = self.held.provisional_id()
        rid = self._write(
            "INSERT INTO scenarios (run_id, name, status, config, notes, facts, started_at)"
            " VALUES (?, ?, 'running', ?, '[]', '{}', ?)",
            (run_id, name, to_json(config), _now_iso()),
            provisional=provisional,
        )
        return rid if rid is not None else provisional

    def finish_scenario(self, scenario_id: int, status: str, notes: list[str], facts: dict[str, Any]) -> None:
        self._write(
            "UPDATE scenarios SET status = ?, notes = ?, facts = ?, finished_at = ? WHERE id = ?",
            (status, json.dumps(notes), to_json(facts), _now_iso(), scenario_id),
            ref=4,
        )

    def scenarios(self, run_id: int) -> list[ScenarioRow]:
        out = []
        for row in self.db.execute("SELECT * FROM scenarios WHERE run_id = ? ORDER BY id", (run_id,)):
            d = dict(row)
            d["config"] = from_json(d["config"]) or {}
            d["notes"] = from_json(d["notes"]) or []
            d["facts"] = from_json(d["facts"]) or {}
            out.append(ScenarioRow(**d))
        return out

    def add_scrape(self, run_id: int, scenario: str, label: str, t_ns: int, text: str) -> None:
        self._write(
            "INSERT INTO scrapes (run_id, scenario, label, t_ns, text) VALUES (?, ?, ?, ?, ?)",
            (run_id, scenario, label, t_ns, text),
        )

    def scrapes(self, run_id: int) -> list[ScrapeRow]:
        rows = self.db.execute(
            "SELECT scenario, label, t_ns, text FROM scrapes WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [ScrapeRow(*r) for r in rows]

    def _run_from_row(self, row: sqlite3.Row) -> RunRow:
        d = dict(row)
        for k in RUN_JSON_COLUMNS:
            d[k] = from_json(d[k])
        return RunRow(**d)

    _RUN_SELECT = (
        "SELECT runs.*, (SELECT COUNT(*) FROM requests WHERE run_id = runs.id) AS n_requests,"
        " (SELECT COUNT(*) FROM requests WHERE run_id = runs.id AND error_kind IS NOT NULL) AS n_errors"
        " FROM runs"
    )

    def get_run(self, run_id: int) -> RunRow | None:
        row = self.db.execute(self._RUN_SELECT + " WHERE id = ?", (run_id,)).fetchone()
        return self._run_from_row(row) if row else None

    def latest_run_id(self) -> int | None:
        row = self.db.execute("SELECT MAX(id) FROM runs").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def list_runs(self, limit: int = 20, kind: str | None = None) -> list[RunRow]:
        where, args = ("WHERE kind = ?", (kind, limit)) if kind else ("", (limit,))
        rows = self.db.execute(f"{self._RUN_SELECT} {where} ORDER BY id DESC LIMIT ?", args).fetchall()
        return [self._run_from_row(r) for r in rows]

    def add_check(self, run_id: int, c: CheckRow) -> None:
        self._write(
            "INSERT INTO checks (run_id, check_id, title, status, evidence, fix, facts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, c.check_id, c.title, c.status, c.evidence, c.fix, to_json(c.facts)),
        )

    def checks(self, run_id: int) -> list[CheckRow]:
        rows = self.db.execute(
            "SELECT check_id, title, status, evidence, fix, facts FROM checks WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        return [CheckRow(r[0], r[1], r[2], r[3], r[4], from_json(r[5]) or {}) for r in rows]

    def add_trial(self, tune_run_id: int, t: TrialRow) -> None:
        cols = [f.name for f in dataclasses.fields(TrialRow) if f.name not in ("id", "finished_at")]
        values = [to_json(getattr(t, c)) if c in TRIAL_JSON else getattr(t, c) for c in cols]
        self._write(
            f"INSERT INTO trials (tune_run_id, {', '.join(cols)}, finished_at)"
            f" VALUES (?, {', '.join('?' for _ in cols)}, ?)",
            (tune_run_id, *values, _now_iso()),
        )

    def trials(self, tune_run_id: int) -> list[TrialRow]:
        out = []
        for row in self.db.execute("SELECT * FROM trials WHERE tune_run_id = ? ORDER BY id", (tune_run_id,)):
            d = {k: row[k] for k in row.keys() if k != "tune_run_id"}  # noqa: SIM118 (a Row iterates values)
            for k in TRIAL_JSON:
                d[k] = from_json(d[k])
            d["by_search"] = bool(d["by_search"])
            out.append(TrialRow(**d))
        return out

    def iter_requests(self, run_id: int) -> Iterator[RequestRecord]:
        """A run's requests one at a time, for renderings that must not hold them all (CSV of 10k rows)."""
        for row in self.db.execute("SELECT * FROM requests WHERE run_id = ? ORDER BY id", (run_id,)):
            yield request_from_row(row)

    def requests(self, run_id: int, scenario: str | None = None) -> list[RequestRecord]:
        sql = "SELECT * FROM requests WHERE run_id = ?"
        args: tuple[Any, ...] = (run_id,)
        if scenario is not None:
            sql += " AND scenario = ?"
            args = (run_id, scenario)
        return [request_from_row(row) for row in self.db.execute(sql + " ORDER BY id", args)]
