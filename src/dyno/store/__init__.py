"""SQLite system of record."""

from dyno.store.db import Store, connect, migrate
from dyno.store.rows import CheckRow, RunRow, ScenarioRow, ScrapeRow, TrialRow
from dyno.store.sink import RunSink

__all__ = [
    "CheckRow",
    "RunRow",
    "RunSink",
    "ScenarioRow",
    "ScrapeRow",
    "Store",
    "TrialRow",
    "connect",
    "migrate",
]
