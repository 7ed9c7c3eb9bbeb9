"""`dyno lint` findings as JSON and as terminal text."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from dyno.engine.preflight import LintOutcome
from dyno.recipe import to_argv
from dyno.redact import redact_argv

STYLE = {"error": "bold red", "warn": "yellow", "info": "cyan"}


def lint_json(out: LintOutcome) -> dict[str, Any]:
    ctx, check = out.context, out.check
    return {
        "recipe": redact_argv(to_argv(out.parsed.recipe)),
        "image": out.parsed.recipe.image,
        "model": ctx.model.id if ctx.model else None,
        "quant": ctx.quant.id if ctx.quant else None,
        "hardware": out.hardware.id if out.hardware else None,
        "engine_check": None
        if check is None
        else {"checked": check.checked, "engine_version": check.engine_version, "notice": check.notice},
        "notes": list(out.parsed.notes),
        "errors": out.errors,
        "lint": out.findings,
    }


def print_lint(out: LintOutcome, console: Console, err_console: Console) -> None:
    ctx, check = out.context, out.check
    what = ctx.model.id if ctx.model else out.parsed.recipe.model
    quant = f", {ctx.quant.id} ({ctx.quant_evidence})" if ctx.quant else ""
    console.print(f"linting {escape(what)}{escape(quant)}", highlight=False)
    if check is not None and check.notice:
        err_console.print(f"[dim]{escape(check.notice)}[/]")
    elif check is not None and check.checked:
        console.print(f"[dim]flags checked with vLLM {check.engine_version}'s parser[/]")
    for f in out.findings:
        style = STYLE[f["severity"]]
        console.print(f"[{style}]{f['severity']:5}[/] [bold]{f['id']}[/]: {escape(f['message'])}")
        console.print(f"      fix: {escape(f['fix'])}", highlight=False)
    console.print(f"{len(out.findings)} findings, {out.errors} errors" if out.findings else "no findings")
