"""`dyno check [TARGET]`: probe a live endpoint for every known trap; exit 1 on any fail."""

from __future__ import annotations

import typer
from rich.markup import escape

from dyno.cli._common import api_key_env_option, console, max_error_rate_option, served_model_option, settings
from dyno.cli._run import finish, stored_on_interrupt
from dyno.probe.runner import CheckOptions, run_check
from dyno.report.show import Format, show_run
from dyno.store import Store


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        url: str = typer.Argument(
            None, metavar="[URL|PROFILE]", help="Endpoint base URL or profile (default: the running engine)."
        ),
        model: str = served_model_option(),
        via: str = typer.Option(None, "--via", help="A router in front of URL: is it the same model?"),
        via_model: str = typer.Option(
            None, "--via-model", help="The router's name for the model (default: the engine's)."
        ),
        via_api_key_env: str = typer.Option(
            None, "--via-api-key-env", help="Env var holding the router's API key (none sent without it)."
        ),
        expect_tools: bool = typer.Option(False, "--expect-tools", help="Invalid tool calls fail, not warn."),
        expect_reasoning: bool = typer.Option(False, "--expect-reasoning", help="No reasoning field fails."),
        expect_spec: bool = typer.Option(False, "--expect-spec", help="Speculation off fails."),
        api_key_env: str = api_key_env_option(),
        fmt: Format = typer.Option(Format.text, "--format", help="Output format."),
        max_error_rate: float = max_error_rate_option(),
    ) -> None:
        """Probe a live endpoint: chat, tools, reasoning, speculation, usage, router identity, exposure.

        Exit codes: 0 no check failed and no more than --max-error-rate of the requests failed (a 4xx
        a check asks for is an answer, not a failure); 1 otherwise; 2 bad input; 128+N signal N.
        """
        s = settings()
        opts = CheckOptions(
            url=url,
            model=model,
            via=via,
            via_model=via_model,
            via_api_key_env=via_api_key_env,
            expect_tools=expect_tools,
            expect_reasoning=expect_reasoning,
            expect_spec=expect_spec,
            api_key_env=api_key_env,
        )
        with Store(s.db_path) as store:
            with stored_on_interrupt(), console.status("checking ...") as status:
                rep = run_check(
                    s, store, opts, lambda m: status.update(f"checking {escape(m)} ..."), max_error_rate
                )
            show_run(store, rep.run_id, fmt, console)
        finish(rep)
