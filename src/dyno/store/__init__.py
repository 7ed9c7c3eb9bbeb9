"""SQLite system of record."""

from dyno.store.db import RunRow, Store, connect, migrate

__all__ = ["RunRow", "Store", "connect", "migrate"]
