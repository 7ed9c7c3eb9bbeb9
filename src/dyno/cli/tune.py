"""`dyno tune PROFILE --sweep NAME=VALUES ...`: the closed loop; `dyno tune --resume RUN` carries one on."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.markup import escape

from dyno.bench.precision import DEFAULT_MAX_REPEATS, parse_precision
from dyno.bench.slo import SLO
from dyno.cli._common import (
    err_console,
    max_repeats_option,
    precision_option,
    settings,
    think_time_option,
    tool_result_tokens_option,
    turns_option,
)
from dyno.cli._run import finish, measure
from dyno.errors import UsageError
from dyno.report.show import Format
from dyno.store import Store, resolve_run_id
from dyno.tune.runner import TuneOptions, run_tune
from dyno.workloads.prompts import CONTENT_TYPES


def _objective(raw: str) -> int:
    """Streams of a throughput objective; 0 for capacity (the search picks the streams)."""
    if raw == "decode_tok_s@1":
        return 1
    if raw == "capacity":
        return 0
    if m := re.fullmatch(r"aggregate_tok_s@(\d+)", raw):
        return int(m.group(1))
    raise UsageError(f"--objective is decode_tok_s@1, aggregate_tok_s@N or capacity, not {raw!r}")


def _slos(raw: list[str] | None, streams: int) -> tuple[str | None, tuple[str, ...]]:
    """(a limit every candidate must meet, per-request objectives of --objective capacity)."""
    if streams == 0:
        parsed = SLO.parse(raw)
        if parsed is None:
            raise UsageError("--objective capacity needs --slo objectives, e.g. --slo ttft_ms<=500")
        return None, tuple(parsed.specs())
    if raw and len(raw) > 1:
        raise UsageError("--slo takes one limit (ttft_p99_ms<=500) unless --objective capacity")
    return (raw[0] if raw else None), ()


def _contents(raw: str) -> tuple[str, ...]:
    kinds = tuple(x.strip() for x in raw.split(",") if x.strip())
    bad = [k for k in kinds if k not in CONTENT_TYPES]
    if bad or not kinds:
        raise UsageError(f"--content takes {', '.join(CONTENT_TYPES)} (a comma list), not {raw!r}")
    return kinds


def register(app: typer.Typer) -> None:
    @app.command()
    def tune(
        profile: str = typer.Argument(None, help="The profile to tune (its flags are the starting point)."),
        sweep: list[str] = typer.Option(
            None, "--sweep", help="NAME=VALUES: a vLLM flag or a speculative-config key; a,b,c or 0..6."
        ),
        objective: str = typer.Option(
            "decode_tok_s@1", "--objective", help="decode_tok_s@1, aggregate_tok_s@N or capacity."
        ),
        slo: list[str] = typer.Option(
            None,
            "--slo",
            help="A limit a candidate must meet (ttft_p99_ms<=500); with --objective capacity, the "
            "per-request objectives (ttft_ms<=500, tpot_ms<=50; repeatable).",
        ),
        attainment: float = typer.Option(
            0.95, "--attainment", help="--objective capacity: share of requests that must conform."
        ),
        max_concurrency: int = typer.Option(
            16, "--max-concurrency", min=1, help="--objective capacity: the most streams tried."
        ),
        turns: str = turns_option("--objective capacity: the levels are users in conversations"),
        think_time: float = think_time_option(),
        tool_result_tokens: str = tool_result_tokens_option("--turns"),
        content: str = typer.Option("code,prose,json", "--content", help="Content types to tune on."),
        repeats: int = typer.Option(
            3, "--repeats", min=1, help="Measurements per candidate (score: median - 1.4826 MAD)."
        ),
        precision: str = precision_option("each candidate's objective"),
        max_repeats: int = max_repeats_option(),
        budget: int = typer.Option(None, "--budget", min=1, help="Most trials the search may use."),
        exhaustive: bool = typer.Option(
            False, "--exhaustive", help="Measure every candidate, search's picks first."
        ),
        seed: int = typer.Option(0, "--seed", help="Seed of the search and the shuffled order."),
        name: str = typer.Option(None, "--name", help="Profile name for the winner (default PROFILE-tuned)."),
        gate_limit: int = typer.Option(
            12, "--gate-limit", min=1, help="Lossless and math items in the answers gate."
        ),
        max_tokens: int = typer.Option(
            128, "--max-tokens", min=8, help="Output tokens per objective request."
        ),
        resume: str = typer.Option(
            None, "--resume", help="Carry on a tune run that stopped; finished trials stay."
        ),
        fmt: Format = typer.Option(Format.text, "--format", help="Output format of the sweep table."),
        output: Path = typer.Option(None, "--output", "-o", help="Write the table to this file."),
    ) -> None:
        """Find the best config without changing the answers: lint, launch, check, measure, gate, pick.

        Exit codes: 0 the tune finished with a winner; 1 it finished without one, or stopped; 2 bad
        input; 128+N stopped by signal N (the engine is stopped; --resume RUN carries on).
        """
        opts, rid = None, None
        if resume is not None:
            with Store(settings().db_path) as store:
                rid = resolve_run_id(store, resume)
        else:
            if not profile or not sweep:
                raise UsageError("dyno tune PROFILE --sweep NAME=VALUES [...], or dyno tune --resume RUN")
            streams = _objective(objective)
            limit, per_request = _slos(slo, streams)
            opts = TuneOptions(
                profile, tuple(sweep), max(streams, 1), _contents(content), repeats, budget,
                exhaustive, seed, limit, gate_limit, max_tokens=max_tokens, name=name,
                capacity_slo=per_request, attainment=attainment, max_concurrency=max_concurrency,
                precision=parse_precision(precision), max_repeats=max_repeats or DEFAULT_MAX_REPEATS,
                capacity_turns=turns, capacity_think_time_s=think_time or 0.0,
                capacity_tool_result_tokens=tool_result_tokens,
            )  # fmt: skip
            if not opts.capacity_slo and (turns or think_time or tool_result_tokens):
                raise UsageError(
                    "--turns, --think-time and --tool-result-tokens shape the users of --objective capacity"
                )
            _ = opts.knobs, opts.slo_limit()  # parsed now: a bad --sweep stops before anything starts
            if opts.capacity_slo:
                opts.capacity_options()
        result = measure(
            lambda s, store, bar: run_tune(
                s, store, opts, resume=rid, step=bar.step, on_engine_progress=bar.engine_progress
            ),
            fmt,
            output,
        )
        if result.kept is not None:
            kept = result.kept
            err_console.print(
                f"winner written as profile [bold]{escape(kept.profile)}[/] ({kept.path}); "
                f"start it: `dyno up {escape(kept.profile)}`"
            )
            err_console.print(f"launch: {escape(kept.shell)}", highlight=False, soft_wrap=True)
            err_console.print(f"docker: {escape(kept.docker)}", highlight=False, soft_wrap=True)
        finish(result)
