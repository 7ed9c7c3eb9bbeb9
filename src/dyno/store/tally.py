"""How many measured requests failed, and why, grouped by kind: what decides a run's status and exit code.

The run recorder (store/recorder.py) applies the rule below for every kind.

Load tools exit non-zero when requests fail (GuideLLM, AIPerf, `vllm bench
serve` all report failures, and the CI that calls them needs the exit code).
dyno's rule, the same for bench, demo, check and verify:

- a run in which every measured request failed has status `failed`;
- a run exits 1 when more than `max_error_rate` of its measured requests
  failed (default 0: any failure), when it is `partial` or `failed`;
- warm-ups are not measured requests; a check's deliberate 4xx probes
  (tools not enabled is an answer, judged by the check) are not failures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from dyno.client.records import RequestRecord, server_message

NOT_MEASURED_LABELS = ("warmup",)


@dataclass
class Tally:
    """Counts measured requests as they are stored; cheap enough to keep for 100k requests."""

    ignore_kinds: tuple[str, ...] = ()
    measured: int = 0
    failed_by_kind: Counter[str] = field(default_factory=Counter)
    example: dict[str, str] = field(default_factory=dict)  # kind -> the first message seen

    def add(self, r: RequestRecord) -> None:
        if r.label in NOT_MEASURED_LABELS:
            return
        self.measured += 1
        if r.ok or r.error_kind in self.ignore_kinds:
            return
        kind = r.error_kind or "?"
        self.failed_by_kind[kind] += 1
        if kind not in self.example:
            msg = server_message(r.error_message, limit=160) if r.error_message else ""
            self.example[kind] = " ".join(msg.split())

    def forgive(self, r: RequestRecord) -> None:
        """A failure the scenario asked for (a probe whose 400 is its answer): measured, not failed."""
        kind = r.error_kind or "?"
        if r.label not in NOT_MEASURED_LABELS and not r.ok and self.failed_by_kind[kind] > 0:
            self.failed_by_kind[kind] -= 1
            if not self.failed_by_kind[kind]:
                del self.failed_by_kind[kind]
                self.example.pop(kind, None)

    @property
    def failed(self) -> int:
        return sum(self.failed_by_kind.values())

    @property
    def error_rate(self) -> float:
        return self.failed / self.measured if self.measured else 0.0

    @property
    def all_failed(self) -> bool:
        return self.measured > 0 and self.failed == self.measured

    def summary(self) -> str:
        """'3 of 40 measured requests failed: http_5xx ×2 (boom), timeout ×1 (...)'; '' when none did."""
        if not self.failed:
            return ""
        kinds = ", ".join(
            f"{k} ×{n}" + (f" ({self.example[k]})" if self.example.get(k) else "")
            for k, n in self.failed_by_kind.most_common()
        )
        return f"{self.failed} of {self.measured} measured requests failed: {kinds}"

    def over(self, max_error_rate: float) -> bool:
        return self.failed > 0 and self.error_rate > max_error_rate


def run_status(finished: bool, tally: Tally) -> str:
    """complete | partial | failed: `failed` when every measured request failed, whatever else happened."""
    if tally.all_failed:
        return "failed"
    return "complete" if finished else "partial"
