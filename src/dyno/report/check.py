"""Render a stored `dyno check` run: one row per check with its verdict, evidence and fix."""

from __future__ import annotations

import json

from dyno.errors import UsageError
from dyno.probe.judge import CheckResult
from dyno.report.render import _md_table
from dyno.store import RunRow, Store


def load_check(store: Store, run_id: int) -> tuple[RunRow, list[CheckResult]]:
    run = store.get_run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in {store.path} (see `dyno runs`)")
    results = []
    for s in store.scenarios(run_id):
        evidence = s.notes[0] if s.notes else ""
        fix = s.notes[1] if len(s.notes) > 1 else ""
        results.append(
            CheckResult(
                s.name,
                str(s.config.get("title", s.name)),
                s.status,  # type: ignore[arg-type]
                evidence,
                fix,
                s.facts,
            )
        )
    return run, results


def check_markdown(run: RunRow, results: list[CheckResult]) -> str:
    head = (
        f"## dyno check · run {run.id} · {run.endpoint} · model {run.model or '?'} · "
        f"{run.engine or '?'} {run.engine_version or ''}\n\n"
    )
    rows = [
        [r.title, r.status.upper() if r.status == "fail" else r.status, r.evidence, r.fix] for r in results
    ]
    return head + _md_table(["check", "status", "evidence", "fix"], rows) + "\n"


def check_json(run: RunRow, results: list[CheckResult]) -> str:
    return json.dumps(
        {
            "run_id": run.id,
            "endpoint": run.endpoint,
            "model": run.model,
            "engine_version": run.engine_version,
            "started_at": run.started_at,
            "failed": any(r.status == "fail" for r in results),
            "checks": [
                {
                    "id": r.id,
                    "title": r.title,
                    "status": r.status,
                    "evidence": r.evidence,
                    "fix": r.fix,
                    "facts": r.facts,
                }
                for r in results
            ],
        },
        indent=2,
        default=str,
    )
