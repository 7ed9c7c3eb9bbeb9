"""A stored verify run, judged again from its rows: each side's provenance and each suite's result.

Nothing here trusts the facts the runner stored: each suite is re-judged from
its scenario config (items, expected answers, tools) and its raw request rows,
so a re-read gives the same answer as the run itself did. report/verify.py
renders it; the tune and compare read its verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from dyno.store import RunRow, Store, load_run
from dyno.verify.evaluate import SIDES, GateTest, SuiteResult, Verdict, judge, verdict
from dyno.verify.suites import SCENARIO_PREFIX


@dataclass(frozen=True)
class SideInfo:
    label: str
    ref: str
    url: str | None
    profile: str | None
    model: str | None
    engine: str
    engine_version: str | None
    launch_flags: list[str] | None
    started_by_verify: bool


@dataclass(frozen=True)
class SuiteSection:
    name: str
    status: str
    max_tokens: int | None
    notes: list[str]
    result: SuiteResult


@dataclass(frozen=True)
class VerifyReport:
    run: RunRow
    sides: tuple[SideInfo, ...]
    suites: tuple[SuiteSection, ...]

    @property
    def verdict(self) -> Verdict:
        return verdict((s.result for s in self.suites), self.test)

    @property
    def test(self) -> GateTest:
        """The test the run was judged by (runs stored before there was a choice were lossless)."""
        t = (self.run.method or {}).get("test")
        return "quality" if t == "quality" else "lossless"


def _side(run: RunRow, label: str) -> SideInfo:
    side = run.side(label)
    return SideInfo(
        label,
        side.ref,
        side.url,
        side.profile,
        side.model,
        side.engine_name,
        side.engine_version,
        side.launch.flags if side.launch else None,
        side.started_by_verify,
    )


def build_verify_report(store: Store, run_id: int) -> VerifyReport:
    run = load_run(store, run_id, "verify")
    sections = []
    for row in store.scenarios(run_id):
        if not row.name.startswith(SCENARIO_PREFIX):
            continue
        suite = row.name.removeprefix(SCENARIO_PREFIX)
        result = judge(suite, row.config, store.requests(run_id, row.name))
        sections.append(SuiteSection(suite, row.status, row.config.get("max_tokens"), row.notes, result))
    return VerifyReport(run, tuple(_side(run, s) for s in SIDES), tuple(sections))
