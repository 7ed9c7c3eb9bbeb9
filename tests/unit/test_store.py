"""Migrations on an empty and an existing database; rows round-trip raw."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dyno.client.records import Chunk, RequestRecord
from dyno.provenance import RunProvenance
from dyno.store import Store, connect, migrate
from dyno.store.migrations import MIGRATIONS


def test_empty_db_gets_every_migration(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.db")
    assert migrate(db) == [name for name, _ in MIGRATIONS]
    assert migrate(db) == []  # idempotent
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "requests", "_migrations"} <= tables


def test_existing_db_keeps_its_rows_and_gets_only_new_migrations(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with Store(path) as st:
        run = st.start_run(kind="bench", prov=RunProvenance(endpoint="http://x"))
        st.add_request(run, RequestRecord(scenario="s", label="", seq=0, params={}, t_sent_ns=1))

    def m999_add_column(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE runs ADD COLUMN extra TEXT")

    db = connect(path)
    assert migrate(db, [*MIGRATIONS, ("m999_add_column", m999_add_column)]) == ["m999_add_column"]
    assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 1
    assert "extra" in [r[1] for r in db.execute("PRAGMA table_info(runs)")]


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path: Path) -> None:
    db = connect(tmp_path / "x.db")

    def m998_broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x)")
        raise sqlite3.OperationalError("boom")

    with pytest.raises(sqlite3.OperationalError, match="boom"):
        migrate(db, [*MIGRATIONS, ("m998_broken", m998_broken)])
    names = {r[0] for r in db.execute("SELECT name FROM _migrations")}
    assert "m998_broken" not in names
    assert not db.execute("SELECT name FROM sqlite_master WHERE name='half'").fetchall()


def test_request_rows_round_trip_raw(tmp_path: Path) -> None:
    rec = RequestRecord(
        scenario="decode",
        label="128",
        seq=2,
        params={"max_tokens": 128},
        t_sent_ns=100,
        t_headers_ns=150,
        t_first_chunk_ns=160,
        t_first_content_ns=200,
        t_end_ns=900,
        chunks=(Chunk(160, "empty", 0), Chunk(200, "content", 1), Chunk(300, "content", 3)),
        prompt_tokens=10,
        output_tokens=4,
        output_text="abcd",
        finish_reason="length",
        tool_calls=({"name": "f", "arguments": "{}", "id": None},),
    )
    with Store(tmp_path / "x.db") as st:
        run = st.start_run(kind="bench", prov=RunProvenance(endpoint="http://x", hardware={"cpu": "y"}))
        st.add_request(run, rec)
        st.finish_run(run, "complete")
        assert st.requests(run) == [rec]
        row = st.get_run(run)
        assert row is not None and row.status == "complete" and row.hardware == {"cpu": "y"}
        assert row.n_requests == 1 and row.n_errors == 0


def test_chunks_come_back_compact_and_derive_the_same(tmp_path: Path) -> None:
    from dyno.client import derive
    from dyno.client.records import ChunkSeq

    chunks = (
        Chunk(1, "empty", 0),
        Chunk(5, "content", 1),
        Chunk(9, "reasoning", None),
        Chunk(20, "content", 3),
    )
    rec = RequestRecord(
        params={}, t_sent_ns=0, t_first_content_ns=5, t_end_ns=21, chunks=chunks, output_tokens=4
    )
    with Store(tmp_path / "x.db") as st:
        run = st.start_run(kind="bench")
        st.add_request(run, rec)
        back = st.requests(run)[0]
    assert isinstance(back.chunks, ChunkSeq) and back.chunks == chunks and list(back.chunks) == list(chunks)
    assert back.chunks[1:3] == chunks[1:3]
    for f in (derive.decode_tok_s, derive.ttft_ms, derive.itl_ms, derive.chunk_token_total):
        assert f(back) == f(rec)
