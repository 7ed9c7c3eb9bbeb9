"""Shared CLI helpers: console, settings, duration formatting, a start-up progress display."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from dyno import signals
from dyno.engine.supervisor import ProgressFn
from dyno.settings import Settings

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    return Settings.from_env()


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:  # llama-server is up in a fraction of a second: "0s" would say nothing
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


@contextmanager
def startup_progress(what: str) -> Iterator[ProgressFn]:
    """A spinner with elapsed time and the engine's latest log line."""
    with console.status(f"starting {what} ...") as status:

        def update(elapsed_s: float, last_line: str) -> None:
            status.update(f"starting {escape(what)} ... {elapsed_s:4.0f} s  [dim]{escape(last_line[:90])}[/]")

        yield update


def served_model_option(help: str = "Served model name (default: the only one).") -> Any:
    return typer.Option(None, "--model", help=help)


def api_key_env_option(help: str = "Env var holding the endpoint's API key (never stored).") -> Any:
    # The name of a variable, never the key: a key on a command line lands in `ps` and shell history.
    return typer.Option(None, "--api-key-env", help=help)


def precision_option(what: str) -> Any:  # a typer OptionInfo, used as a parameter default
    return typer.Option(
        None, "--precision", help=f"Repeat {what} until the mean's 95% interval is ±this (5%)."
    )


def max_repeats_option() -> Any:
    return typer.Option(None, "--max-repeats", min=3, help="--precision stops here (20).")


def dataset_option() -> Any:  # a typer OptionInfo, used as a parameter default
    return typer.Option(
        None, "--dataset", help="Your prompts: JSONL with prompt or messages per line, or ShareGPT JSON."
    )


class ToolChoice(StrEnum):
    auto = "auto"
    required = "required"


def turns_option(default: str) -> Any:
    return typer.Option(None, "--turns", help=f"User turns per session: N or a distribution ({default}).")


def think_time_option() -> Any:
    return typer.Option(
        None, "--think-time", min=0.0, help="Seconds a user waits after a reply before the next turn."
    )


def tool_result_tokens_option(needs: str) -> Any:
    return typer.Option(
        None,
        "--tool-result-tokens",
        help=f"With {needs}: agent loops. Turns offer tools; each tool call is answered with a "
        "result of this many tokens (N or a distribution) and sent back.",
    )


def tool_choice_option() -> Any:
    return typer.Option(
        None,
        "--tool-choice",
        help="Agent sessions: auto (the model decides) or required (a task turn must call a tool).",
    )


def prefix_groups_option() -> Any:
    return typer.Option(
        None, "--prefix-groups", min=1, help="Open synthetic prompts with one of G shared prefixes."
    )


def prefix_tokens_option() -> Any:
    return typer.Option(512, "--prefix-tokens", min=1, help="Tokens of each shared prefix.")


def prefix_zipf_option() -> Any:
    return typer.Option(
        0.0, "--prefix-zipf", min=0.0, help="Skew of the groups drawn: 0 equal, 1 group k weighs 1/k."
    )


def max_error_rate_option() -> Any:  # a typer OptionInfo, used as a parameter default
    return typer.Option(
        0.0,
        "--max-error-rate",
        min=0.0,
        max=1.0,
        help="Fraction of measured requests that may fail before the exit code says so (0: none).",
    )


@contextmanager
def writer(path: Path | None) -> Iterator[Callable[[str], object]]:
    """Where a rendering goes: stdout, or a file written whole (so a failed render leaves no half page)."""
    if path is None:
        yield sys.stdout.write
        return
    parts: list[str] = []
    yield parts.append
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text("".join(parts))
    tmp.replace(path)


@contextmanager
def exits_on_signal(what_happened: str) -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP: say what was done about it, exit 128 + the signal number."""
    try:
        yield
    except KeyboardInterrupt as e:
        err_console.print(f"[yellow]{escape(signals.describe(e))}[/]: {escape(what_happened)}")
        raise typer.Exit(signals.exit_code(e)) from None
