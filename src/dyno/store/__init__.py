"""SQLite system of record."""

from dyno.store.db import Store, connect, migrate
from dyno.store.rows import CheckRow, RunRow, ScenarioRow, ScrapeRow
from dyno.store.sink import RunSink

__all__ = ["CheckRow", "RunRow", "RunSink", "ScenarioRow", "ScrapeRow", "Store", "connect", "migrate"]
