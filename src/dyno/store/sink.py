"""Where a runner's measurements go as they happen: the one interface every runner writes through.

`Store` implements it; tests wrap a Store to inject faults (kill a server after
the third stored request, fail a write). Runners never read back through it.
"""

from __future__ import annotations

from typing import Any, Protocol

from dyno.client.records import RequestRecord
from dyno.provenance import RunProvenance
from dyno.store.rows import CheckRow


class RunSink(Protocol):
    def start_run(
        self,
        *,
        kind: str,
        prov: RunProvenance | None = None,
        method: dict[str, Any] | None = None,
        clock: tuple[int, int] | None = None,
    ) -> int: ...
    def update_run(self, run_id: int, **fields: Any) -> None: ...
    def add_request(self, run_id: int, r: RequestRecord) -> None: ...
    def add_scrape(self, run_id: int, scenario: str, label: str, t_ns: int, text: str) -> None: ...
    def start_scenario(self, run_id: int, name: str, config: dict[str, Any]) -> int: ...
    def finish_scenario(
        self, scenario_id: int, status: str, notes: list[str], facts: dict[str, Any]
    ) -> None: ...
    def add_check(self, run_id: int, c: CheckRow) -> None: ...
    def finish_run(self, run_id: int, status: str, note: str | None = None) -> None: ...
