"""Where dyno keeps its state: one folder, `DYNO_HOME`, overridable by one env var."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "dyno"


@dataclass(frozen=True)
class Settings:
    home: Path

    @classmethod
    def from_env(cls) -> Settings:
        raw = os.environ.get("DYNO_HOME")
        return cls(home=Path(raw).expanduser() if raw else default_home())

    @property
    def db_path(self) -> Path:
        return self.home / "dyno.db"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def profiles_dir(self) -> Path:
        return self.home / "profiles"

    @property
    def cache_dir(self) -> Path:
        """Engine caches (vLLM compile cache) live here so restarts can reuse them."""
        return self.home / "cache"

    def ensure(self) -> Settings:
        for d in (self.home, self.models_dir, self.logs_dir, self.state_dir, self.cache_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
