"""`dyno capacity [URL|PROFILE] --slo ttft_ms<=500 ...`: the most concurrent load within the SLO."""

from __future__ import annotations

from pathlib import Path

import typer

from dyno.bench.slo import SLO
from dyno.capacity.runner import CapacityOptions, run_capacity
from dyno.cli._common import (
    ToolChoice,
    api_key_env_option,
    dataset_option,
    prefix_groups_option,
    prefix_tokens_option,
    prefix_zipf_option,
    served_model_option,
    think_time_option,
    tool_choice_option,
    tool_result_tokens_option,
    turns_option,
)
from dyno.cli._run import finish, measure
from dyno.client import ClientConfig
from dyno.engine.target import TargetSpec
from dyno.errors import UsageError
from dyno.report.show import Format
from dyno.workloads.dataset import load_dataset
from dyno.workloads.prefixes import SharedPrefixes
from dyno.workloads.shapes import parse_lengths


def register(app: typer.Typer) -> None:
    @app.command()
    def capacity(
        target: str = typer.Argument(
            None,
            metavar="[URL|PROFILE]",
            help="Endpoint base URL, or a profile to start (default: the running engine, else smollm2).",
        ),
        slo: list[str] = typer.Option(
            None, "--slo", help="Per-request objective, e.g. ttft_ms<=500, tpot_ms<=50 (repeatable)."
        ),
        attainment: float = typer.Option(
            0.95, "--attainment", help="Share of requests that must meet every objective."
        ),
        max_concurrency: int = typer.Option(
            64, "--max-concurrency", min=1, help="The most streams the search tries."
        ),
        start: int = typer.Option(1, "--start", min=1, help="The first level probed (then doubled)."),
        input_tokens: str = typer.Option(
            None, "--input-tokens", help="Prompt length: N, normal:MEAN,STD or uniform:LOW,HIGH (tokens)."
        ),
        output_tokens: str = typer.Option(
            None, "--output-tokens", help="Output length (held with ignore_eos): N or a distribution."
        ),
        dataset: Path = dataset_option(),
        prefix_groups: int = prefix_groups_option(),
        prefix_tokens: int = prefix_tokens_option(),
        prefix_zipf: float = prefix_zipf_option(),
        turns: str = turns_option("set: the levels are users, each in conversations of this many turns"),
        think_time: float = think_time_option(),
        tool_result_tokens: str = tool_result_tokens_option("--turns"),
        tool_choice: ToolChoice = tool_choice_option(),
        max_requests: int = typer.Option(
            None, "--max-requests", min=1, help="Judged requests per probe before it is indeterminate."
        ),
        probe_seconds: float = typer.Option(
            300.0, "--probe-seconds", min=1.0, help="Longest a probe runs before it is indeterminate (s)."
        ),
        knee: bool = typer.Option(False, "--knee", help="Fit the throughput knee with fewer than 5 levels."),
        seed: int = typer.Option(0, "--seed", help="Seed for drawn lengths."),
        model: str = served_model_option(),
        api_key_env: str = api_key_env_option(),
        hardware: str = typer.Option(None, "--hardware", help="Hardware id for provenance."),
        keep: bool = typer.Option(False, "--keep", help="Leave an engine dyno started running."),
        fmt: Format = typer.Option(Format.text, "--format", help="text, md or json."),
        output: Path = typer.Option(None, "--output", "-o", help="Write the report to this file."),
        request_timeout: float = typer.Option(
            600.0, "--request-timeout", min=1.0, help="Overall deadline per request (s); a timeout is a miss."
        ),
    ) -> None:
        """Find how many concurrent streams the server carries within your SLO, and why it stops there.

        Doubles the concurrency (1, 2, 4, ...) until a level fails, then bisects. Each level runs until a
        sequential test shows its attainment above or below --attainment (errors <= 5% each way), or
        its cap (indeterminate: said, never used as a bound). A request conforms when it meets every
        --slo and did not fail; TTFT and e2e count from when the load meant the request to leave.

        With --turns T the levels are users instead: each in a conversation of T turns whose history
        carries the server's real replies (--think-time between a reply and the next turn; with
        --tool-result-tokens K, agents whose tool calls are answered and sent back), a new one
        begun when one ends; every turn is judged.

        Exit codes: 0 the search finished with a resolved answer; 1 it stopped, or its answer is not
        resolved (a level indeterminate or client-bound); 2 bad input; 128+N stopped by signal N.
        """
        parsed = SLO.parse(slo)
        if parsed is None:
            raise UsageError(
                "dyno capacity needs at least one --slo, e.g. --slo ttft_ms<=500 --slo tpot_ms<=50"
            )
        if fmt not in (Format.text, Format.md, Format.json):
            raise UsageError(f"dyno capacity --format takes text, md or json, not {fmt.value}")
        opts = CapacityOptions(
            slo=parsed,
            attainment=attainment,
            max_concurrency=max_concurrency,
            start=start,
            input_tokens=parse_lengths(input_tokens, "--input-tokens") if input_tokens else None,
            output_tokens=parse_lengths(output_tokens, "--output-tokens") if output_tokens else None,
            dataset=load_dataset(dataset) if dataset else None,
            prefixes=SharedPrefixes(prefix_groups, prefix_tokens, prefix_zipf) if prefix_groups else None,
            seed=seed,
            max_requests=max_requests,
            max_probe_s=probe_seconds,
            knee=knee,
            turns=parse_lengths(turns, "--turns") if turns else None,
            think_time_s=think_time or 0.0,
            tool_result_tokens=parse_lengths(tool_result_tokens, "--tool-result-tokens")
            if tool_result_tokens
            else None,
            tool_choice=tool_choice.value if tool_choice else "auto",
        )
        spec = TargetSpec(target, model, api_key_env, hardware, keep)
        result = measure(
            lambda s, store, bar: run_capacity(
                s,
                store,
                spec,
                opts,
                **bar.hooks(),
                client_config=ClientConfig(request_deadline_s=request_timeout),
            ),
            fmt,
            output,
        )
        finish(result)
