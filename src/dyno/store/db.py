"""The SQLite system of record: runs with provenance, one row per request, raw.

Rows are written as they happen (a run row first, each request as it
finishes), so a run that dies keeps everything it measured.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dyno import __version__
from dyno.client.records import Chunk, RequestRecord
from dyno.errors import StoreError
from dyno.store.migrations import MIGRATIONS, Migration


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
        # Explicit BEGIN: in autocommit mode `with db:` would not open one.
        db.execute("BEGIN")
        try:
            fn(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, _now_iso()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        # WAL: `dyno runs` in another shell can read while a bench writes.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        migrate(db)
    except sqlite3.Error as e:
        raise StoreError(f"cannot open the store at {path}: {e}") from e
    return db


@dataclass(frozen=True)
class ScenarioRow:
    id: int
    run_id: int
    name: str
    status: str
    config: dict[str, Any]
    notes: list[str]
    facts: dict[str, Any]
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class ScrapeRow:
    scenario: str
    label: str
    t_ns: int
    text: str


@dataclass(frozen=True)
class RunRow:
    id: int
    kind: str
    status: str
    started_at: str
    finished_at: str | None
    dyno_version: str
    endpoint: str | None
    engine: str | None
    engine_version: str | None
    model: str | None
    launch_config: dict[str, Any] | None
    hardware: dict[str, Any] | None
    method: dict[str, Any] | None
    server_info: dict[str, Any] | None
    clock_wall_ns: int | None
    clock_perf_ns: int | None
    note: str | None
    n_requests: int = 0
    n_errors: int = 0


def _j(v: Any) -> str | None:
    return None if v is None else json.dumps(v, sort_keys=True)


def _uj(v: str | None) -> Any:
    return None if v is None else json.loads(v)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = connect(path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(
        self,
        *,
        kind: str,
        endpoint: str | None,
        engine: str | None = None,
        engine_version: str | None = None,
        model: str | None = None,
        launch_config: dict[str, Any] | None = None,
        hardware: dict[str, Any] | None = None,
        method: dict[str, Any] | None = None,
        server_info: dict[str, Any] | None = None,
        clock: tuple[int, int] | None = None,
    ) -> int:
        wall, perf = clock or (time.time_ns(), time.perf_counter_ns())
        cur = self.db.execute(
            "INSERT INTO runs (kind, status, started_at, dyno_version, endpoint, engine, engine_version,"
            " model, launch_config, hardware, method, server_info, clock_wall_ns, clock_perf_ns)"
            " VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                _now_iso(),
                __version__,
                endpoint,
                engine,
                engine_version,
                model,
                _j(launch_config),
                _j(hardware),
                _j(method),
                _j(server_info),
                wall,
                perf,
            ),
        )
        assert cur.lastrowid is not None
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
        }
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot update {bad}")
        for k, v in fields.items():
            val = _j(v) if isinstance(v, dict | list) else v
            self.db.execute(f"UPDATE runs SET {k} = ? WHERE id = ?", (val, run_id))

    def finish_run(self, run_id: int, status: str, note: str | None = None) -> None:
        self.db.execute(
            "UPDATE runs SET status = ?, finished_at = ?, note = COALESCE(?, note) WHERE id = ?",
            (status, _now_iso(), note, run_id),
        )

    def add_request(self, run_id: int, r: RequestRecord) -> int:
        chunks = [[c.t_ns, c.kind, c.tokens] for c in r.chunks]
        cur = self.db.execute(
            "INSERT INTO requests (run_id, scenario, label, seq, params, t_sent_ns, t_headers_ns,"
            " t_first_chunk_ns, t_first_content_ns, t_end_ns, chunks, prompt_tokens, output_tokens,"
            " reasoning_tokens, output_text, reasoning_text, tool_calls, finish_reason, response_model,"
            " http_status, error_kind, error_message, malformed_events, response_headers)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                r.scenario,
                r.label,
                r.seq,
                _j(r.params),
                r.t_sent_ns,
                r.t_headers_ns,
                r.t_first_chunk_ns,
                r.t_first_content_ns,
                r.t_end_ns,
                json.dumps(chunks),
                r.prompt_tokens,
                r.output_tokens,
                r.reasoning_tokens,
                r.output_text,
                r.reasoning_text,
                _j(list(r.tool_calls)),
                r.finish_reason,
                r.response_model,
                r.http_status,
                r.error_kind,
                r.error_message,
                r.malformed_events,
                _j(r.response_headers),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def start_scenario(self, run_id: int, name: str, config: dict[str, Any]) -> int:
        cur = self.db.execute(
            "INSERT INTO scenarios (run_id, name, status, config, notes, facts, started_at)"
            " VALUES (?, ?, 'running', ?, '[]', '{}', ?)",
            (run_id, name, _j(config), _now_iso()),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish_scenario(self, scenario_id: int, status: str, notes: list[str], facts: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE scenarios SET status = ?, notes = ?, facts = ?, finished_at = ? WHERE id = ?",
            (status, json.dumps(notes), _j(facts), _now_iso(), scenario_id),
        )

    def scenarios(self, run_id: int) -> list[ScenarioRow]:
        out = []
        for row in self.db.execute("SELECT * FROM scenarios WHERE run_id = ? ORDER BY id", (run_id,)):
            d = dict(row)
            d["config"] = _uj(d["config"]) or {}
            d["notes"] = _uj(d["notes"]) or []
            d["facts"] = _uj(d["facts"]) or {}
            out.append(ScenarioRow(**d))
        return out

    def add_scrape(self, run_id: int, scenario: str, label: str, t_ns: int, text: str) -> None:
        self.db.execute(
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
        for k in ("launch_config", "hardware", "method", "server_info"):
            d[k] = _uj(d[k])
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

    def requests(self, run_id: int, scenario: str | None = None) -> list[RequestRecord]:
        sql = "SELECT * FROM requests WHERE run_id = ?"
        args: tuple[Any, ...] = (run_id,)
        if scenario is not None:
            sql += " AND scenario = ?"
            args = (run_id, scenario)
        out = []
        for row in self.db.execute(sql + " ORDER BY id", args):
            d = dict(row)
            chunks = tuple(Chunk(t, kind, tok) for t, kind, tok in json.loads(d["chunks"] or "[]"))
            out.append(
                RequestRecord(
                    scenario=d["scenario"],
                    label=d["label"],
                    seq=d["seq"],
                    params=_uj(d["params"]) or {},
                    t_sent_ns=d["t_sent_ns"],
                    t_headers_ns=d["t_headers_ns"],
                    t_first_chunk_ns=d["t_first_chunk_ns"],
                    t_first_content_ns=d["t_first_content_ns"],
                    t_end_ns=d["t_end_ns"],
                    chunks=chunks,
                    prompt_tokens=d["prompt_tokens"],
                    output_tokens=d["output_tokens"],
                    reasoning_tokens=d["reasoning_tokens"],
                    output_text=d["output_text"] or "",
                    reasoning_text=d["reasoning_text"] or "",
                    tool_calls=tuple(_uj(d["tool_calls"]) or ()),
                    finish_reason=d["finish_reason"],
                    response_model=d["response_model"],
                    http_status=d["http_status"],
                    error_kind=d["error_kind"],
                    error_message=d["error_message"],
                    malformed_events=d["malformed_events"],
                    response_headers=_uj(d["response_headers"]) or {},
                )
            )
        return out
