"""What the store hands back, and the one place that says how a request row maps to columns.

The requests table's columns are the fields of `RequestRecord`, in its order;
`REQUEST_COLUMNS` derives the insert and the read from the dataclass, so a
field added to the record needs one migration and nothing else here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dyno.client.records import ChunkSeq, RequestRecord
from dyno.store.records import KeyProperties, LaunchRecord, SideRecord


def to_json(v: Any) -> str | None:
    return None if v is None else json.dumps(v, sort_keys=True)


def from_json(v: str | None) -> Any:
    return None if v is None else json.loads(v)


@functools.lru_cache(maxsize=1024)
def _decoded_once(v: str) -> Any:
    return json.loads(v)


def _shared_dict(v: str | None) -> Any:
    """A dict column whose text repeats from row to row (one load's request params, one server's
    headers) decoded once and shared by every record that has it: decoded per row, reading 9,985
    requests back held 5.4 KB each, shared 3.5 KB. Records never change these dicts."""
    return (None if v is None else _decoded_once(v)) or {}


@dataclass(frozen=True)
class Codec:
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _chunks(v: str | None) -> ChunkSeq:
    out = ChunkSeq()
    for t, kind, tok in json.loads(v or "[]"):
        out.append(t, kind, tok)
    return out


_PLAIN = Codec(lambda v: v, lambda v: v)
_TEXT = Codec(lambda v: v, lambda v: v or "")
# Fields that are not plain SQLite values: how each is written and read back.
_CODECS: dict[str, Codec] = {
    "params": Codec(to_json, _shared_dict),
    "chunks": Codec(lambda cs: json.dumps([[c.t_ns, c.kind, c.tokens] for c in cs]), _chunks),
    "tool_calls": Codec(lambda v: to_json(list(v)), lambda v: tuple(from_json(v) or ())),
    "response_headers": Codec(to_json, _shared_dict),
    "server_timing": Codec(to_json, from_json),
    "output_text": _TEXT,
    "reasoning_text": _TEXT,
}

REQUEST_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RequestRecord))
REQUEST_INSERT = (
    f"INSERT INTO requests (run_id, {', '.join(REQUEST_COLUMNS)})"
    f" VALUES (?, {', '.join('?' for _ in REQUEST_COLUMNS)})"
)


def request_values(run_id: int, r: RequestRecord) -> tuple[Any, ...]:
    return (run_id, *(_CODECS.get(c, _PLAIN).encode(getattr(r, c)) for c in REQUEST_COLUMNS))


def request_from_row(row: Any) -> RequestRecord:
    return RequestRecord(**{c: _CODECS.get(c, _PLAIN).decode(row[c]) for c in REQUEST_COLUMNS})


@dataclass(frozen=True)
class ScenarioRow:
    id: int
    run_id: int
    name: str
    status: str
    config: dict[str, Any]
    notes: list[str]
    facts: dict[str, Any]
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class ScrapeRow:
    scenario: str
    label: str
    t_ns: int
    text: str


@dataclass(frozen=True)
class CheckRow:
    """One verdict of a `dyno check` run."""

    check_id: str
    title: str
    status: str  # pass | warn | fail | skipped
    evidence: str
    fix: str
    facts: dict[str, Any]


@dataclass(frozen=True)
class TrialRow:
    """One candidate of a tune, as stored when it finished."""

    candidate: list[list[Any]]  # [[knob, value], ...] in sweep order
    status: str  # measured | refused | failed | rejected | noisy | not-applied | slo-miss
    by_search: bool  # the search chose it (not only --exhaustive)
    bench_run_id: int | None = None
    verify_run_id: int | None = None
    samples: list[float] | None = None  # the objective, once per repeat
    median: float | None = None
    mad: float | None = None
    score: float | None = None
    predicted: float | None = None  # the physics prediction when it was chosen
    spec: dict[str, Any] | None = None  # acceptance counters behind it
    per_content: dict[str, Any] | None = None  # per content type: decode tok/s, acceptance
    note: str | None = None
    id: int | None = None
    finished_at: str | None = None


TRIAL_JSON = ("candidate", "samples", "spec", "per_content")


@dataclass(frozen=True)
class RunRow:
    id: int
    kind: str
    status: str  # running | complete | partial | failed | abandoned
    started_at: str
    finished_at: str | None
    dyno_version: str
    endpoint: str | None
    engine: str | None
    engine_version: str | None
    model: str | None
    launch_config: dict[str, Any] | None
    hardware: dict[str, Any] | None
    method: dict[str, Any] | None
    server_info: dict[str, Any] | None
    clock_wall_ns: int | None
    clock_perf_ns: int | None
    note: str | None
    pid: int | None = None
    pid_create_time: float | None = None
    key_properties: dict[str, Any] | None = None
    ceiling: dict[str, Any] | None = None
    n_requests: int = 0
    n_errors: int = 0

    @property
    def launch(self) -> LaunchRecord | None:
        """How dyno started the engine this run measured; None for a URL it only measured."""
        return LaunchRecord.model_validate(self.launch_config) if self.launch_config else None

    @property
    def keyprops(self) -> KeyProperties:
        return KeyProperties.model_validate(self.key_properties or {})

    @property
    def flags(self) -> list[str]:
        """The engine's launch flags: from the key properties, else the recorded recipe; [] when unknown."""
        key = self.keyprops.flags
        if key is not None:
            return key
        launch = self.launch
        return (launch.flags if launch else None) or []

    def side(self, label: str) -> SideRecord:
        """One side of a verify run (`candidate` or `baseline`), as it was stored."""
        info = (self.server_info or {}).get(label) or {}
        launch = (self.launch_config or {}).get(label) or None
        ref = ((self.method or {}).get("sides") or {}).get(label) or info.get("ref") or "?"
        return SideRecord.model_validate({**info, "ref": str(ref), "launch": launch})


RUN_JSON_COLUMNS = ("launch_config", "hardware", "method", "server_info", "key_properties", "ceiling")
