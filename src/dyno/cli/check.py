"""`dyno check URL`: probe a live endpoint for every known trap; exit 1 on any fail."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from dyno.cli._common import console, err_console, settings
from dyno.errors import UsageError
from dyno.probe.judge import CheckResult
from dyno.probe.runner import CheckOptions, run_check
from dyno.report.check import check_json, check_markdown, load_check
from dyno.store import Store

COLOURS = {"pass": "green", "warn": "yellow", "fail": "red", "skipped": "dim"}


def print_checks(title: str, results: list[CheckResult]) -> None:
    t = Table("check", "status", "evidence", "fix", title=title, title_justify="left")
    for r in results:
        c = COLOURS[r.status]
        t.add_row(r.title, f"[{c}]{r.status}[/]", escape(r.evidence), escape(r.fix))
    console.print(t)


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        url: str = typer.Argument(None, help="Endpoint base URL (default: the running embedded engine)."),
        model: str = typer.Option(None, "--model", help="Served model name (default: the only one)."),
        via: str = typer.Option(None, "--via", help="A router in front of URL: is it the same model?"),
        expect_tools: bool = typer.Option(False, "--expect-tools", help="Invalid tool calls fail, not warn."),
        expect_reasoning: bool = typer.Option(False, "--expect-reasoning", help="No reasoning field fails."),
        expect_spec: bool = typer.Option(False, "--expect-spec", help="Speculation off fails."),
        api_key_env: str = typer.Option(None, "--api-key-env", help="Env var holding the API key."),
        fmt: str = typer.Option("text", "--format", help="text | json | md"),
    ) -> None:
        """Probe a live endpoint: chat, tools, reasoning, speculation, usage, router identity, exposure."""
        if fmt not in ("text", "json", "md"):
            raise UsageError(f"--format must be text, json or md, not {fmt!r}")
        s = settings()
        opts = CheckOptions(url, model, via, expect_tools, expect_reasoning, expect_spec, api_key_env)
        with Store(s.db_path) as store:
            with console.status("checking ...") as status:
                rep = run_check(s, store, opts, step=lambda m: status.update(f"checking {escape(m)} ..."))
            run, results = load_check(store, rep.run_id)
        if fmt == "json":
            print(check_json(run, results))
        elif fmt == "md":
            print(check_markdown(run, results), end="")
        else:
            print_checks(
                f"dyno check {rep.url} · model {rep.model} · vLLM {rep.engine_version or '?'} "
                f"(run {rep.run_id})",
                results,
            )
        if rep.failed:
            err_console.print(f"[red]{sum(r.status == 'fail' for r in results)} check(s) failed[/]")
            raise typer.Exit(1)
