"""`dyno bench [URL]`: the field's benchmark suite against any OpenAI-compatible endpoint."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from dyno.bench import suites
from dyno.bench.runner import run_bench
from dyno.cli._common import console, err_console, request_progress, settings
from dyno.errors import UsageError
from dyno.report import Report, build_report, pivot
from dyno.report.render import RENDERERS, config_summary
from dyno.store import Store


def print_report(report: Report) -> None:
    cfg = config_summary(report)
    head = Table(show_header=False, box=None)
    for k, v in cfg.items():
        head.add_row(k, escape(v))
    console.print(f"[bold]run {report.run.id}[/] · {report.run.kind} · {report.run.status}")
    console.print(head)
    for s in report.scenarios:
        header, rows = pivot(s)
        t = Table(*header, title=f"{s.name} ({s.status})", title_justify="left")
        for r in rows:
            t.add_row(*r)
        console.print(t)
        for d in s.tokens.disagreements():
            console.print(f"  [red]token counts disagree:[/] {escape(d)}")
        for n in s.notes:
            console.print(f"  [yellow]note:[/] {escape(n)}", highlight=False)


def _levels(raw: str | None) -> tuple[int, ...] | None:
    if not raw:
        return None
    try:
        levels = tuple(int(x) for x in raw.split(","))
    except ValueError:
        raise UsageError(f"--concurrency takes numbers like 1,2,4,8, not {raw!r}") from None
    if any(x < 1 for x in levels):
        raise UsageError("--concurrency levels must be >= 1")
    return levels


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        url: str = typer.Argument(None, help="Endpoint base URL (default: the running embedded engine)."),
        model: str = typer.Option(None, "--model", help="Served model name (default: the only one)."),
        suite: str = typer.Option("quick", "--suite", help="quick | standard | full"),
        scenario: list[str] = typer.Option(None, "--scenario", help="Run only these scenarios (repeatable)."),
        repeat: int = typer.Option(None, "--repeat", min=1, help="Repeats per measurement."),
        concurrency: str = typer.Option(None, "--concurrency", help="Concurrency levels, e.g. 1,2,4,8."),
        api_key_env: str = typer.Option(
            None, "--api-key-env", help="Env var holding the endpoint's API key (never stored)."
        ),
        keep: bool = typer.Option(False, "--keep", help="Leave an engine dyno started running."),
        fmt: str = typer.Option("text", "--format", help="Output after the run: text | md | json | csv"),
    ) -> None:
        """Benchmark an endpoint: decode, TTFT, prefill, concurrency, prefix cache, tools, speculation."""
        if fmt not in ("text", *RENDERERS):
            raise UsageError(f"--format must be text, md, json or csv, not {fmt!r}")
        scenarios = suites.select(suite, scenario or None, repeat, _levels(concurrency))
        s = settings()
        with Store(s.db_path) as store:
            try:
                with request_progress() as bar:
                    result = run_bench(
                        s,
                        store,
                        scenarios,
                        url=url,
                        model=model,
                        api_key_env=api_key_env,
                        suite=suite,
                        keep=keep,
                        progress=bar,
                        step=bar.step,
                        on_engine_progress=bar.engine_progress,
                    )
            except KeyboardInterrupt:
                rid = store.latest_run_id()
                err_console.print(
                    f"[yellow]interrupted[/]: run {rid} is stored as partial with what it measured"
                )
                raise typer.Exit(130) from None
            report = build_report(store, result.run_id)
        if fmt == "text":
            print_report(report)
        else:
            print(RENDERERS[fmt](report), end="")
        if result.status != "complete":
            err_console.print(f"[red]run {result.run_id} is partial[/]: {escape(result.message)}")
            raise typer.Exit(1)
        err_console.print(f"stored as run {result.run_id}; `dyno report {result.run_id}` renders it again")
