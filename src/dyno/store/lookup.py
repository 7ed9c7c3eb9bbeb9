"""Finding a stored run as the user names it: the one "no run N" error every command gives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dyno.errors import UsageError
from dyno.store.rows import RunRow

if TYPE_CHECKING:
    from dyno.store.db import Store


def resolve_run_id(store: Store, ref: str) -> int:
    """A run as the user names it: its id, or 'last' / 'latest'."""
    if ref in ("last", "latest"):
        rid = store.latest_run_id()
        if rid is None:
            raise UsageError("no runs stored yet")
        return rid
    try:
        return int(ref)
    except ValueError:
        raise UsageError(f"run must be a number or 'last', not {ref!r}") from None


def load_run(store: Store, run_id: int, kind: str | None = None) -> RunRow:
    """The stored run, or the one error every command gives for a run that is not there (or not a `kind`)."""
    run = store.get_run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in {store.path} (see `dyno runs`)")
    if kind is not None and run.kind != kind:
        raise UsageError(
            f"run {run_id} is a {run.kind} run, not a {kind} run (see `dyno runs --kind {kind}`)"
        )
    return run
