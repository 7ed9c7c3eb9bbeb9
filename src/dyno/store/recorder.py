"""One run life cycle for every kind: open the run, record as it happens, close it once, say how it ended.

    with record_run(sink, "bench", prov, method) as run:
        rec = await run.send(client, req, scenario="decode", label="r0")
        await run.scrape(endpoint, "decode", "before")
    return run.outcome

The recorder owns what every runner used to write for itself:
- the run row (pid and its create time, so a dead owner is told: store/db.py);
- every request and scrape stored the moment it exists, and counted (`Tally`);
- the status rule: `failed` when every measured request failed, `partial` when
  the run was stopped (`run.stop(why)`, an exception, Ctrl-C, SIGTERM/SIGHUP),
  else `complete`;
- the note: why it stopped, the signal, the failures grouped by kind;
- the exit code: 0 only for a complete run whose failures are within
  `max_error_rate` and whose verdict (`run.fail(why)`: a failed check, changed
  answers, a tune without a winner) did not fail;
- on Ctrl-C or a signal, the run id is put on the exception, so the command
  says which run it kept (`stored_runs`) instead of guessing the latest one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, TypeVar

from dyno import signals
from dyno.client import Endpoint, GenRequest, RequestRecord
from dyno.metrics import Scrape, parse
from dyno.provenance import RunProvenance
from dyno.store.rows import CheckRow
from dyno.store.sink import RunSink
from dyno.store.tally import Tally, run_status


class Generator(Protocol):
    """What `run.send` sends through: the SSE client, the Ollama native client, a router's client."""

    async def generate(self, req: GenRequest) -> RequestRecord: ...


Result = TypeVar("Result", bound="RunOutcome")


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, the one thing a command needs to tell the user and exit."""

    run_id: int
    kind: str
    status: str  # complete | partial | failed
    exit_code: int  # 0 passes; 1 does not (message says why)
    message: str  # why it does not pass; "" when it passes
    tally: Tally = field(default_factory=Tally)
    tolerated: str = ""  # failures within --max-error-rate, said but not failing the run

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def with_details(self, cls: type[Result], **details: Any) -> Result:
        """This outcome as a runner's own result type (a subclass adding what only that kind has)."""
        return cls(**{f.name: getattr(self, f.name) for f in fields(RunOutcome)}, **details)


def stored_runs(e: BaseException) -> tuple[int, ...]:
    """The runs a Ctrl-C or signal closed as partial on its way up (innermost first)."""
    runs = getattr(e, "dyno_stored_runs", ())
    return tuple(runs) if isinstance(runs, tuple) else ()


class RunRecorder:
    """One open run. Only `record_run` makes one."""

    def __init__(self, sink: RunSink, run_id: int, kind: str, tally: Tally, max_error_rate: float) -> None:
        self.sink = sink
        self.id = run_id
        self.kind = kind
        self.tally = tally
        self.max_error_rate = max_error_rate
        self.stored = 0  # requests stored so far
        self.on_record: Callable[[RequestRecord], None] = lambda _r: None
        self._stopped = ""  # why the run did not run through
        self._failed: list[str] = []  # why its verdict fails
        self._notes: list[str] = []  # said in the run's note, failing nothing
        self._outcome: RunOutcome | None = None

    # -- what happens during the run
    def record(self, rec: RequestRecord) -> RequestRecord:
        """Store a finished request (sent here, by a worker process, or replayed) and count it."""
        self.sink.add_request(self.id, rec)
        self.tally.add(rec)
        self.stored += 1
        self.on_record(rec)
        return rec

    async def send(
        self,
        client: Generator,
        req: GenRequest,
        *,
        scenario: str,
        label: str = "",
        seq: int = 0,
        intended_ns: int | None = None,
    ) -> RequestRecord:
        rec = (await client.generate(req)).tagged(scenario, label, seq, intended_ns=intended_ns)
        return self.record(rec)

    async def scrape(self, endpoint: Endpoint, scenario: str, label: str) -> Scrape | None:
        """Scrape /metrics, store the raw text with the run, and return it parsed (None: no /metrics)."""
        text = await asyncio.to_thread(endpoint.metrics_text)
        if text is None:
            return None
        t = time.perf_counter_ns()
        self.sink.add_scrape(self.id, scenario, label, t, text)
        return parse(text, t)

    def forgive(self, rec: RequestRecord) -> None:
        """A failure the scenario asked for (a probe whose 400 is its answer): measured, not failed."""
        self.tally.forgive(rec)

    def update(self, **fields: Any) -> None:
        """More provenance as it becomes known (a verify side that has started)."""
        self.sink.update_run(self.id, **fields)

    def start_scenario(self, name: str, config: dict[str, Any]) -> int:
        return self.sink.start_scenario(self.id, name, config)

    def finish_scenario(self, scenario_id: int, status: str, notes: list[str], facts: dict[str, Any]) -> None:
        self.sink.finish_scenario(scenario_id, status, notes, facts)

    def add_check(self, c: CheckRow) -> None:
        self.sink.add_check(self.id, c)

    def stop(self, why: str) -> None:
        """The run will not run through (server gone mid-suite): it closes `partial` with this note."""
        self._stopped = why

    def note(self, text: str) -> None:
        """A line for the run's note that fails nothing ("resumed after it was stopped")."""
        self._notes.append(text)

    def fail(self, why: str) -> None:
        """The run ran through but its verdict fails: exit 1 with this message, status unchanged."""
        self._failed.append(why)

    # -- the end
    @property
    def outcome(self) -> RunOutcome:
        if self._outcome is None:
            raise RuntimeError(f"run {self.id} is still open: read its outcome after the `with` block")
        return self._outcome

    def _close(self, finished: bool, stopped: str = "") -> None:
        stopped = stopped or self._stopped
        status = run_status(finished and not stopped, self.tally)
        summary = self.tally.summary()
        note = "; ".join(x for x in (stopped, *self._failed, *self._notes, summary) if x)
        self.sink.finish_run(self.id, status, note=note or None)
        over = self.tally.over(self.max_error_rate)
        code = 0 if status == "complete" and not over and not self._failed else 1
        message = "; ".join(x for x in (stopped, *self._failed, summary if over or code else "") if x)
        if code and not message:
            message = f"the run is {status}"
        within = f"{summary} (within --max-error-rate {self.max_error_rate:g})"
        tolerated = within if not code and summary else ""
        self._outcome = RunOutcome(self.id, self.kind, status, code, message, self.tally, tolerated)


@contextmanager
def record_run(
    sink: RunSink,
    kind: str,
    prov: RunProvenance | None = None,
    method: dict[str, Any] | None = None,
    *,
    ignore_kinds: tuple[str, ...] = (),
    max_error_rate: float = 0.0,
    resume: int | None = None,
) -> Iterator[RunRecorder]:
    """Open a run (or reopen `resume`, a stopped one of the same kind), yield its recorder, close it once.

    An exception closes the run `partial` with the cause in its note and goes on up;
    Ctrl-C and SIGTERM/SIGHUP also leave the run id on the exception (`stored_runs`).
    """
    run_id = resume if resume is not None else sink.start_run(kind=kind, prov=prov, method=method)
    run = RunRecorder(sink, run_id, kind, Tally(ignore_kinds), max_error_rate)
    try:
        yield run
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP (dyno.signals)
        run._close(False, signals.describe(e))
        e.dyno_stored_runs = (*stored_runs(e), run_id)  # type: ignore[attr-defined]
        raise
    except BaseException as e:  # an engine that would not start, a store that refused, a bug
        run._close(False, f"stopped: {e or type(e).__name__}"[:500])
        raise
    else:
        run._close(True)
