"""Render a stored `dyno check` run: one row per check with its verdict, evidence and fix."""

from __future__ import annotations

import csv
import io
import json

from dyno.report.render import md_table
from dyno.store import CheckRow, RunRow


def check_markdown(run: RunRow, checks: list[CheckRow]) -> str:
    head = (
        f"## dyno check · run {run.id} · {run.endpoint} · model {run.model or '?'} · "
        f"{run.engine or '?'} {run.engine_version or ''}\n\n"
    )
    rows = [
        [c.title, c.status.upper() if c.status == "fail" else c.status, c.evidence, c.fix] for c in checks
    ]
    return head + md_table(["check", "status", "evidence", "fix"], rows) + "\n"


def check_json(run: RunRow, checks: list[CheckRow]) -> str:
    return json.dumps(
        {
            "run_id": run.id,
            "status": run.status,
            "endpoint": run.endpoint,
            "model": run.model,
            "engine_version": run.engine_version,
            "started_at": run.started_at,
            "failed": any(c.status == "fail" for c in checks),
            "checks": [
                {
                    "id": c.check_id,
                    "title": c.title,
                    "status": c.status,
                    "evidence": c.evidence,
                    "fix": c.fix,
                    "facts": c.facts,
                }
                for c in checks
            ],
        },
        indent=2,
        default=str,
    )


def check_csv(run: RunRow, checks: list[CheckRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run_id", "check", "title", "status", "evidence", "fix"])
    for c in checks:
        w.writerow([run.id, c.check_id, c.title, c.status, c.evidence, c.fix])
    return buf.getvalue()
