"""`dyno lint` of a launch: the pure rules, plus what only this machine can tell them.

The rules in `dyno.lint` read a recipe and a model folder. This module adds
the facts that need I/O: which other GPU runtimes are running here, which
MoE tuning files the installed vLLM ships, and what vLLM's own argument
parser says of the flags.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import psutil

from dyno.catalog import Hardware
from dyno.engine.adapters import ADAPTERS
from dyno.errors import UsageError
from dyno.lint import LintContext, build_context, lint, read_model_folder
from dyno.recipe import ParsedCommand, load_recipe, parse_command
from dyno.recipe.validate import EngineCheck

# runtimes that grab the GPU behind vLLM's back (shared/DOMAIN.md trap 10)
OTHER_RUNTIMES = ("ollama",)


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


@dataclass(frozen=True)
class LintOutcome:
    parsed: ParsedCommand
    context: LintContext
    hardware: Hardware | None
    check: EngineCheck | None  # vLLM's own parser's verdict; None when not asked
    findings: list[dict[str, str]]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f["severity"] == "error")


def lint_launch(
    args: list[str],
    *,
    hardware: Hardware | None = None,
    model_dir: Path | None = None,
    engine_version: str | None = None,
    engine_check: bool = True,
) -> LintOutcome:
    parsed = read_target(args)
    folder = read_model_folder(model_dir) if model_dir else None
    # An engine's own parser judges its flags where it has one (vLLM's); llama-server's are checked
    # by the rules that know them.
    adapter = ADAPTERS.get(parsed.recipe.engine)
    own_check = adapter.check_flags if engine_check and adapter is not None else None
    check = own_check(parsed.recipe) if own_check else None
    ctx = build_context(
        parsed.recipe,
        hardware=hardware,
        folder=folder,
        engine_version=engine_version,
        docker=parsed.docker,
        other_runtimes=other_runtimes_running(),
        moe_config_dir=installed_moe_config_dir() if own_check else None,
        engine_errors=check.errors if check else (),
    )
    return LintOutcome(parsed, ctx, hardware, check, [f.to_dict() for f in lint(ctx)])
