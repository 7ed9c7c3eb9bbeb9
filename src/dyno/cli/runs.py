"""`dyno runs`: the stored runs, newest first."""

from __future__ import annotations

import typer
from rich.table import Table

from dyno.cli._common import console, settings
from dyno.store import Store


def register(app: typer.Typer) -> None:
    @app.command()
    def runs(
        limit: int = typer.Option(20, "-n", "--limit", help="How many runs to list."),
        kind: str = typer.Option(None, "--kind", help="Only runs of this kind (demo, bench, ...)."),
    ) -> None:
        """List stored runs, newest first."""
        with Store(settings().db_path) as store:
            rows = store.list_runs(limit=limit, kind=kind)
        if not rows:
            console.print("no runs stored yet; try `dyno demo`")
            return
        t = Table("id", "kind", "status", "started", "model", "engine", "requests", "errors", "endpoint")
        for r in rows:
            colour = {"complete": "green", "partial": "yellow", "failed": "red", "abandoned": "magenta"}.get(
                r.status, "white"
            )
            t.add_row(
                str(r.id),
                r.kind,
                f"[{colour}]{r.status}[/]",
                r.started_at,
                r.model or "-",
                f"{r.engine or '-'} {r.engine_version or ''}".strip(),
                str(r.n_requests),
                str(r.n_errors),
                r.endpoint or "-",
            )
        console.print(t)
