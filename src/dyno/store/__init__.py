"""SQLite system of record, and the run recorder every command writes through."""

from dyno.store.db import Store, connect, migrate
from dyno.store.lookup import load_run, resolve_run_id
from dyno.store.recorder import RunOutcome, RunRecorder, record_run, stored_runs
from dyno.store.rows import CheckRow, RunRow, ScenarioRow, ScrapeRow, TrialRow
from dyno.store.sink import RunSink
from dyno.store.tally import Tally

__all__ = [
    "CheckRow",
    "RunOutcome",
    "RunRecorder",
    "RunRow",
    "RunSink",
    "ScenarioRow",
    "ScrapeRow",
    "Store",
    "Tally",
    "TrialRow",
    "connect",
    "load_run",
    "migrate",
    "record_run",
    "resolve_run_id",
    "stored_runs",
]
