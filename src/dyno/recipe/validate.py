"""Check a recipe's argv with vLLM's own `serve` argument parser, when vLLM is importable.

dyno does not keep a copy of vLLM's flag list (it changes every release): it
builds the parser vLLM itself uses and lets it judge. vLLM is imported only
here, lazily, because importing it takes seconds.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
from dataclasses import dataclass
from typing import Any

from dyno.recipe.model import Recipe, to_argv


@dataclass(frozen=True)
class EngineCheck:
    checked: bool  # False when vLLM is not importable here
    engine_version: str | None
    errors: tuple[str, ...]
    notice: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "error:" in ln:
            return ln.split("error:", 1)[1].strip()
    return lines[-1] if lines else "rejected"


def check_with_vllm(recipe: Recipe) -> EngineCheck:
    """Parse `vllm serve` arguments with vLLM's parser and its pre-start checks."""
    if not vllm_available():
        return EngineCheck(
            False, None, (), "vLLM is not installed here: flags were not checked by its parser"
        )
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        vllm: Any = importlib.import_module("vllm")
        argparse_utils: Any = importlib.import_module("vllm.utils.argparse_utils")
        cli_args: Any = importlib.import_module("vllm.entrypoints.launchers.cli_args")
        parser = cli_args.make_arg_parser(argparse_utils.FlexibleArgumentParser(prog="vllm serve"))
    version = str(getattr(vllm, "__version__", "")) or None
    args = to_argv(recipe)[2:]  # vLLM's parser takes what follows `vllm serve`
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            ns = parser.parse_args(args)
    except SystemExit:
        return EngineCheck(True, version, (_last_error_line(err.getvalue()),))
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            cli_args.validate_parsed_serve_args(ns)
    except (TypeError, ValueError) as e:
        return EngineCheck(True, version, (str(e).removeprefix("Error: "),))
    return EngineCheck(True, version, ())
