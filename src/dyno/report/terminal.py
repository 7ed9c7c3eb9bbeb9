"""Terminal renderings (rich): a bench or demo run, and the verdicts of a check run.

`dyno demo`, `dyno bench` and `dyno report --format text` all print through
here, so what a run printed when it finished is what its report prints later.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dyno.bench.summary import RunSummary
from dyno.report.headline import headline
from dyno.report.render import client_line, config_summary, fit_width, pivot, token_line
from dyno.store import CheckRow, RunRow

COLOURS = {"pass": "green", "warn": "yellow", "fail": "red", "skipped": "dim"}


def print_report(report: RunSummary, console: Console) -> None:
    run = report.run
    console.print(Text.assemble((f"run {run.id}", "bold"), f" · {run.kind} · {run.status}"))
    top = headline(report)
    for k, v in top.figures:
        console.print(Text.assemble(("  " + k + ": ", "dim"), (v, "bold")))
    if top.sentence:
        console.print(Text("  " + top.sentence))
    head = Table(show_header=False, box=None)
    for k, v in config_summary(report).items():
        head.add_row(k, Text(v))
    console.print(head)
    if run.note:
        console.print(Text(f"note: {run.note}", style="yellow"))
    for s in report.scenarios:
        header, rows = fit_width(*pivot(s), console.width)
        t = Table(*header, title=f"{s.name} ({s.status})", title_justify="left")
        for r in rows:
            t.add_row(*r)
        console.print(t)
        disagree = bool(s.tokens.disagreements())
        console.print(Text("  " + token_line(s.tokens), style="red" if disagree else "dim"))
        if health := client_line(s.facts):
            console.print(Text("  " + health, style="dim"))
        for n in s.notes:
            console.print(Text.assemble(("  note: ", "yellow"), n))


def print_checks(run: RunRow, checks: list[CheckRow], console: Console) -> None:
    title = (
        f"dyno check {run.endpoint or '?'} · model {run.model or '?'} · "
        f"{run.engine or '?'} {run.engine_version or ''} (run {run.id}, {run.status})"
    )
    t = Table("check", "status", "evidence", "fix", title=title.strip(), title_justify="left")
    for c in checks:
        colour = COLOURS.get(c.status, "white")
        t.add_row(c.title, f"[{colour}]{c.status}[/]", escape(c.evidence), escape(c.fix))
    console.print(t)


def print_here(lines: list[str], console: Console) -> None:
    """What is fast on this machine (bench/here.py), as doctor, plan and the demo close with it."""
    if lines:
        console.print("[cyan]on this machine:[/]")
        for line in lines:
            console.print(f"  - {line}", highlight=False)
