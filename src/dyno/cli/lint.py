"""`dyno lint RECIPE.toml | -- vllm serve ... | -- docker run ...`: find the known traps before launch."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import psutil
import typer
from rich.markup import escape

from dyno.catalog import get_hardware
from dyno.cli._common import console, err_console, settings
from dyno.errors import UsageError
from dyno.lint import build_context, lint, read_model_folder
from dyno.recipe import ParsedCommand, load_recipe, parse_command, to_argv
from dyno.recipe.validate import EngineCheck, check_with_vllm

# runtimes that grab the GPU behind vLLM's back (shared/DOMAIN.md trap 10)
OTHER_RUNTIMES = ("ollama",)
STYLE = {"error": "bold red", "warn": "yellow", "info": "cyan"}


def read_target(args: list[str]) -> ParsedCommand:
    """A recipe file path, or a pasted command (what follows `--`)."""
    if not args:
        raise UsageError("give a recipe file, or a command after `--` (dyno lint -- vllm serve MODEL ...)")
    if len(args) == 1 and (args[0].endswith(".toml") or Path(args[0]).is_file()):
        return ParsedCommand(load_recipe(Path(args[0])))
    return parse_command(args)


def other_runtimes_running() -> tuple[str, ...]:
    seen = set()
    for p in psutil.process_iter(["name"]):
        name = (p.info.get("name") or "").lower()
        for rt in OTHER_RUNTIMES:
            if name.startswith(rt):
                seen.add(rt)
    return tuple(sorted(seen))


def installed_moe_config_dir() -> Path | None:
    """vLLM's shipped fused-MoE tuning files, found without importing vLLM."""
    spec = importlib.util.find_spec("vllm")
    if spec is None or spec.origin is None:
        return None
    d = Path(spec.origin).parent / "model_executor" / "layers" / "fused_moe" / "configs"
    return d if d.is_dir() else None


def lint_json(
    parsed: ParsedCommand,
    ctx_model: str | None,
    ctx_quant: str | None,
    hardware: str | None,
    check: EngineCheck | None,
    findings: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "recipe": to_argv(parsed.recipe),
        "image": parsed.recipe.image,
        "model": ctx_model,
        "quant": ctx_quant,
        "hardware": hardware,
        "engine_check": None
        if check is None
        else {"checked": check.checked, "engine_version": check.engine_version, "notice": check.notice},
        "notes": list(parsed.notes),
        "errors": sum(1 for f in findings if f["severity"] == "error"),
        "lint": findings,
    }


def register(app: typer.Typer) -> None:
    @app.command(name="lint")
    def lint_command(
        args: list[str] = typer.Argument(
            None, metavar="RECIPE.toml | -- COMMAND...", help="A recipe file, or a pasted command after --."
        ),
        hardware: str = typer.Option(None, "--hardware", help="Hardware id the command is for (gb10, ...)."),
        model_dir: Path = typer.Option(None, "--model-dir", help="Local model folder (config.json, ...)."),
        engine_version: str = typer.Option(None, "--engine-version", help="vLLM version it will run on."),
        engine_check: bool = typer.Option(
            True, "--engine-check/--no-engine-check", help="Check the flags with vLLM's own parser."
        ),
        fmt: str = typer.Option("text", "--format", help="text or json."),
    ) -> None:
        """Lint a launch config for the known traps; exit 1 when any finding is an error."""
        if fmt not in ("text", "json"):
            raise UsageError("--format must be text or json")
        parsed = read_target(args or [])
        hw = get_hardware(hardware, cpu_cache=settings().cache_dir) if hardware else None
        folder = read_model_folder(model_dir) if model_dir else None
        check = check_with_vllm(parsed.recipe) if engine_check else None
        ctx = build_context(
            parsed.recipe,
            hardware=hw,
            folder=folder,
            engine_version=engine_version,
            docker=parsed.docker,
            other_runtimes=other_runtimes_running(),
            moe_config_dir=installed_moe_config_dir() if engine_check else None,
            engine_errors=check.errors if check else (),
        )
        findings = [f.to_dict() for f in lint(ctx)]
        if fmt == "json":
            out = lint_json(
                parsed,
                ctx.model.id if ctx.model else None,
                ctx.quant.id if ctx.quant else None,
                hw.id if hw else None,
                check,
                findings,
            )
            print(json.dumps(out, indent=1))
        else:
            what = ctx.model.id if ctx.model else parsed.recipe.model
            quant = f", {ctx.quant.id} ({ctx.quant_evidence})" if ctx.quant else ""
            console.print(f"linting {escape(what)}{escape(quant)}", highlight=False)
            if check is not None and check.notice:
                err_console.print(f"[dim]{escape(check.notice)}[/]")
            elif check is not None and check.checked:
                console.print(f"[dim]flags checked with vLLM {check.engine_version}'s parser[/]")
            for f in findings:
                style = STYLE[f["severity"]]
                console.print(f"[{style}]{f['severity']:5}[/] [bold]{f['id']}[/]: {escape(f['message'])}")
                console.print(f"      fix: {escape(f['fix'])}", highlight=False)
            n_err = sum(1 for f in findings if f["severity"] == "error")
            console.print(f"{len(findings)} findings, {n_err} errors" if findings else "no findings")
        if any(f["severity"] == "error" for f in findings):
            raise typer.Exit(1)
