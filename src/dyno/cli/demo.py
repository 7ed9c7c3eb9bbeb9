"""`dyno demo`: embedded engine up, the demo suite through the bench runner, the report, engine down."""

from __future__ import annotations

import typer

from dyno.bench.demo import run_demo
from dyno.cli._common import console, err_console, request_progress, settings, stored_on_interrupt
from dyno.engine import profiles
from dyno.report.show import Format, show_run
from dyno.store import Store


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        profile: str = typer.Option(profiles.DEFAULT_PROFILE, "--profile", help="Engine profile to demo."),
        keep: bool = typer.Option(False, "--keep", help="Leave the engine running afterwards."),
        port: int = typer.Option(None, "--port", help="Port for the engine (default: a free one)."),
    ) -> None:
        """Bring the embedded engine up, check a chat, measure decode/TTFT/concurrency, store, take it down.

        Prints the same report `dyno report RUN` prints for the stored run.
        """
        s = settings()
        with Store(s.db_path) as store:
            with stored_on_interrupt(store), request_progress() as bar:
                res = run_demo(
                    s,
                    store,
                    profile=profile,
                    keep=keep,
                    port=port,
                    progress=bar,
                    step=bar.step,
                    on_progress=bar.engine_progress,
                )
            show_run(store, res.run_id, Format.text, console)
            failed = [name for name, st in res.scenario_status.items() if st != "complete"]
        tail = f"engine still up at {res.url} (`dyno down` to stop)" if res.kept_up else "engine stopped"
        err_console.print(f"stored as run {res.run_id} in {s.db_path}; {tail}")
        if res.status != "complete" or failed:
            err_console.print(f"[red]demo run {res.run_id} is {res.status}[/]: {res.message or failed}")
            raise typer.Exit(1)
