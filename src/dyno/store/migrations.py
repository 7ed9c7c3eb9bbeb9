"""Numbered schema migrations, applied in order, each exactly once (as in simonw/llm).

Never edit a migration that has shipped: add the next one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = tuple[str, Callable[[sqlite3.Connection], None]]


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Run `;`-separated statements inside the caller's transaction.

    (sqlite3's executescript() would COMMIT first, breaking migrate()'s
    all-or-nothing guarantee.)
    """
    for stmt in sql.split(";"):
        if stmt.strip():
            db.execute(stmt)


def m001_initial(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,                 -- demo | bench | check | verify | ...
            status TEXT NOT NULL,               -- running | complete | partial | failed
            started_at TEXT NOT NULL,           -- ISO 8601, local time with offset
            finished_at TEXT,
            dyno_version TEXT NOT NULL,
            endpoint TEXT,
            engine TEXT,
            engine_version TEXT,
            model TEXT,
            launch_config TEXT,                 -- JSON: the recipe when dyno launched the engine
            hardware TEXT,                      -- JSON
            method TEXT,                        -- JSON: what was measured and how
            server_info TEXT,                   -- JSON: /version, /v1/models answers
            clock_wall_ns INTEGER,              -- time.time_ns() ...
            clock_perf_ns INTEGER,              -- ... and perf_counter_ns() read together
            note TEXT
        );
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            scenario TEXT NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            seq INTEGER NOT NULL DEFAULT 0,
            params TEXT,                        -- JSON: request parameters (no prompt text)
            t_sent_ns INTEGER NOT NULL,
            t_headers_ns INTEGER,
            t_first_chunk_ns INTEGER,
            t_first_content_ns INTEGER,
            t_end_ns INTEGER,
            chunks TEXT,                        -- JSON: [[t_ns, kind, tokens|null], ...]
            prompt_tokens INTEGER,
            output_tokens INTEGER,
            reasoning_tokens INTEGER,
            output_text TEXT,
            reasoning_text TEXT,
            tool_calls TEXT,                    -- JSON
            finish_reason TEXT,
            response_model TEXT,
            http_status INTEGER,
            error_kind TEXT,
            error_message TEXT,
            malformed_events INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX requests_run ON requests(run_id, scenario);
        """,
    )


def m002_scenarios_and_scrapes(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE scenarios (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            name TEXT NOT NULL,
            status TEXT NOT NULL,               -- running | complete | skipped | failed | partial
            config TEXT,                        -- JSON: the scenario's parameters as run
            notes TEXT,                         -- JSON: [str], what a reader must know
            facts TEXT,                         -- JSON: non-timing outcomes (e.g. a server's error text)
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX scenarios_run ON scenarios(run_id);
        CREATE TABLE scrapes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            scenario TEXT NOT NULL,
            label TEXT NOT NULL,                -- e.g. before / after / before:code
            t_ns INTEGER NOT NULL,              -- perf_counter_ns when the scrape returned
            text TEXT NOT NULL                  -- the raw Prometheus exposition text
        );
        CREATE INDEX scrapes_run ON scrapes(run_id, scenario)
        """,
    )


def m003_response_headers(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE requests ADD COLUMN response_headers TEXT")  # JSON, credentials excluded


def m004_checks_and_run_keys(db: sqlite3.Connection) -> None:
    """Check verdicts get their own table (they were scenario rows with evidence and fix packed into
    `notes`); runs record who is writing them (to find abandoned ones), their key properties and
    the roofline ceiling of their target."""
    _script(
        db,
        """
        ALTER TABLE runs ADD COLUMN pid INTEGER;             -- the dyno process writing the run
        ALTER TABLE runs ADD COLUMN pid_create_time REAL;    -- ... and its create time (pid reuse)
        ALTER TABLE runs ADD COLUMN key_properties TEXT;     -- JSON: what makes two runs comparable
        ALTER TABLE runs ADD COLUMN ceiling TEXT;            -- JSON: roofline inputs for the target
        CREATE TABLE checks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            check_id TEXT NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,               -- pass | warn | fail | skipped
            evidence TEXT NOT NULL,
            fix TEXT NOT NULL,
            facts TEXT                          -- JSON
        );
        CREATE INDEX checks_run ON checks(run_id);
        INSERT INTO checks (run_id, check_id, title, status, evidence, fix, facts)
            SELECT s.run_id, s.name, COALESCE(json_extract(s.config, '$.title'), s.name), s.status,
                   COALESCE(json_extract(s.notes, '$[0]'), ''), COALESCE(json_extract(s.notes, '$[1]'), ''),
                   s.facts
            FROM scenarios s JOIN runs r ON r.id = s.run_id WHERE r.kind = 'check' ORDER BY s.id;
        DELETE FROM scenarios WHERE run_id IN (SELECT id FROM runs WHERE kind = 'check')
        """,
    )


def m005_intended_send_and_server_timing(db: sqlite3.Connection) -> None:
    """Each request's intended send time (no coordinated omission) and the server's own timing of it."""
    _script(
        db,
        """
        -- perf_counter_ns when the load meant the request to leave
        ALTER TABLE requests ADD COLUMN t_intended_ns INTEGER;
        -- JSON: the server's own timing (vLLM metrics, llama.cpp timings)
        ALTER TABLE requests ADD COLUMN server_timing TEXT
        """,
    )


def m006_tune_trials(db: sqlite3.Connection) -> None:
    """A tune's trials: one row per candidate, stored as each finishes (so a tune can be resumed)."""
    _script(
        db,
        """
        CREATE TABLE trials (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tune_run_id INTEGER NOT NULL REFERENCES runs(id),
            candidate TEXT NOT NULL,
            status TEXT NOT NULL,
            by_search INTEGER NOT NULL,
            bench_run_id INTEGER,
            verify_run_id INTEGER,
            samples TEXT,
            median REAL,
            mad REAL,
            score REAL,
            predicted REAL,
            spec TEXT,
            per_content TEXT,
            note TEXT,
            finished_at TEXT NOT NULL
        );
        CREATE INDEX trials_run ON trials(tune_run_id)
        """,
    )


def m007_cached_tokens(db: sqlite3.Connection) -> None:
    """Each request's prompt tokens its server's prefix cache served (usage.prompt_tokens_details)."""
    db.execute("ALTER TABLE requests ADD COLUMN cached_tokens INTEGER")


MIGRATIONS: list[Migration] = [
    ("m001_initial", m001_initial),
    ("m002_scenarios_and_scrapes", m002_scenarios_and_scrapes),
    ("m003_response_headers", m003_response_headers),
    ("m004_checks_and_run_keys", m004_checks_and_run_keys),
    ("m005_intended_send_and_server_timing", m005_intended_send_and_server_timing),
    ("m006_tune_trials", m006_tune_trials),
    ("m007_cached_tokens", m007_cached_tokens),
]
