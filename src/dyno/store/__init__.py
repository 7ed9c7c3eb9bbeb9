"""SQLite system of record."""

from dyno.store.db import RunRow, ScenarioRow, ScrapeRow, Store, connect, migrate

__all__ = ["RunRow", "ScenarioRow", "ScrapeRow", "Store", "connect", "migrate"]
