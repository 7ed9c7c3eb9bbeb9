"""`dyno demo`: embedded engine up, the demo suite through the bench runner, the report, engine down."""

from __future__ import annotations

import typer

from dyno.bench import here
from dyno.bench.demo import run_demo
from dyno.cli._common import err_console, max_error_rate_option, settings
from dyno.cli._run import finish, measure
from dyno.engine import profiles
from dyno.report.terminal import print_here


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        profile: str = typer.Option(profiles.DEFAULT_PROFILE, "--profile", help="Engine profile to demo."),
        keep: bool = typer.Option(False, "--keep", help="Leave the engine running afterwards."),
        port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default: a free one)."),
        max_error_rate: float = max_error_rate_option(),
    ) -> None:
        """Bring the embedded engine up, check a chat, measure decode/TTFT/concurrency, store, take it down.

        Prints the same report `dyno report RUN` prints for the stored run. Exit codes: 0 the run
        completed, every scenario ran and no more than --max-error-rate of its requests failed;
        1 otherwise (the message says why); 2 bad input; 128+N stopped by signal N.
        """
        res = measure(
            lambda s, store, bar: run_demo(
                s,
                store,
                profile=profile,
                keep=keep,
                port=port,
                **bar.hooks(),
                max_error_rate=max_error_rate,
            )
        )
        if res.exit_code == 0:
            # The closing lines, beside "stored as run N" on stderr: stdout stays the run's report,
            # the same text `dyno report N` prints.
            print_here(here.advice(settings()), err_console)
        tail = f"engine still up at {res.url} (`dyno down` to stop)" if res.kept_up else "engine stopped"
        finish(res, f"stored as run {res.run_id} in {settings().db_path}; {tail}")
