"""The exceptions dyno raises, and what a user can do about each.

    DynoError                  base; the CLI prints its message, no traceback
    ├── UsageError             bad input: unknown profile, bad flag value, missing file
    ├── ModelError             a local model is missing, cannot be fetched or fails verification
    ├── EngineError            the engine cannot be prepared, started, reached or stopped
    │   ├── PortBusyError      the requested port is already taken
    │   ├── EngineStartError   the engine died (or timed out) during start-up; carries the log tail
    │   └── NotRunningError    an operation needs a running engine and there is none
    ├── EndpointError          an HTTP endpoint answered badly or not at all
    └── StoreError             the SQLite store cannot be opened or migrated

Every message says what happened and what to do next.
"""

from __future__ import annotations


class DynoError(Exception):
    """Base for every error dyno expects; the CLI turns it into a clean message."""

    exit_code = 1


class UsageError(DynoError):
    exit_code = 2


class ModelError(DynoError):
    pass


class EngineError(DynoError):
    pass


class PortBusyError(EngineError):
    pass


class EngineStartError(EngineError):
    """The engine exited or never became ready; `cause` is our best reading of the log."""

    def __init__(self, message: str, *, cause: str, log_tail: list[str]) -> None:
        super().__init__(message)
        self.cause = cause
        self.log_tail = log_tail


class NotRunningError(EngineError):
    pass


class EndpointError(DynoError):
    pass


class StoreError(DynoError):
    pass
