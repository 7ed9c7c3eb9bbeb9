"""`dyno bench [TARGET]`: the field's benchmark suite against any OpenAI-compatible endpoint."""

from __future__ import annotations

from enum import Enum, StrEnum
from pathlib import Path

import typer

from dyno.bench import suites
from dyno.bench.precision import parse_precision
from dyno.bench.runner import run_bench
from dyno.bench.slo import SLO
from dyno.cli._common import (
    ToolChoice,
    api_key_env_option,
    dataset_option,
    max_error_rate_option,
    max_repeats_option,
    precision_option,
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
from dyno.report.show import Format
from dyno.workloads.prefixes import SharedPrefixes
from dyno.workloads.shapes import parse_lengths, parse_levels, parse_rates

Suite = Enum("Suite", {name: name for name in suites.SUITES}, type=str)  # type: ignore[misc]


class TraceFormat(StrEnum):
    mooncake = "mooncake"


class Arrival(StrEnum):
    poisson = "poisson"
    constant = "constant"


def register(app: typer.Typer) -> None:
    @app.command()
    def bench(
        target: str = typer.Argument(
            None,
            metavar="[URL|PROFILE]",
            help="Endpoint base URL, or a profile to start (default: the running engine, else smollm2).",
        ),
        model: str = served_model_option(),
        suite: Suite = typer.Option("quick", "--suite", help="Which scenarios at which sizes."),
        scenario: list[str] = typer.Option(None, "--scenario", help="Run only these scenarios (repeatable)."),
        repeat: int = typer.Option(None, "--repeat", min=1, help="Repeats per measurement (the least)."),
        precision: str = precision_option("decode and TTFT"),
        max_repeats: int = max_repeats_option(),
        concurrency: str = typer.Option(None, "--concurrency", help="Concurrency levels, e.g. 1,2,4,8."),
        slo: list[str] = typer.Option(
            None, "--slo", help="Judge each load level: ttft_ms<=500, tpot_ms<=50, e2e_ms<=, decode_tok_s>=."
        ),
        api_key_env: str = api_key_env_option(),
        hardware: str = typer.Option(
            None, "--hardware", help="Hardware id for the roofline (default: this CPU for a local engine)."
        ),
        keep: bool = typer.Option(False, "--keep", help="Leave an engine dyno started running."),
        fmt: Format = typer.Option(Format.text, "--format", help="Output after the run."),
        max_error_rate: float = max_error_rate_option(),
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
        sessions: int = typer.Option(
            None, "--sessions", min=1, help="Users at once, each a conversation that grows with the replies."
        ),
        turns: str = turns_option("default 4"),
        think_time: float = think_time_option(),
        tool_result_tokens: str = tool_result_tokens_option("--sessions"),
        tool_choice: ToolChoice = tool_choice_option(),
        trace: Path = typer.Option(
            None, "--trace", help="Replay a request trace (Mooncake JSONL): arrivals, lengths, shared blocks."
        ),
        trace_format: TraceFormat = typer.Option(
            TraceFormat.mooncake, "--trace-format", help="The trace's format."
        ),
        time_scale: float = typer.Option(
            None, "--time-scale", help="Stretch the trace's arrivals by this factor (2: half its rate)."
        ),
        length_scale: float = typer.Option(
            None, "--length-scale", help="Scale the trace's prompts (and its blocks) by this factor."
        ),
        trace_block_tokens: int = typer.Option(
            None,
            "--trace-block-tokens",
            min=1,
            help="Tokens per trace hash id (512 x --length-scale).",
        ),
        rate: str = typer.Option(
            None,
            "--rate",
            help="Requests per second (open loop; comma list for a sweep); with --sessions, turns per "
            "second over all users (each user's gap: sessions / rate).",
        ),
        arrival: Arrival = typer.Option(Arrival.poisson, "--arrival", help="Arrival process for --rate."),
        duration: float = typer.Option(None, "--duration", min=0.1, help="Seconds per load level."),
        requests: int = typer.Option(None, "--requests", min=1, help="Requests per load level."),
        seed: int = typer.Option(0, "--seed", help="Seed for drawn lengths, dataset order and arrivals."),
        workers: int = typer.Option(1, "--workers", min=1, max=64, help="Processes to spread a load over."),
        request_timeout: float = typer.Option(
            1800.0,
            "--request-timeout",
            min=1.0,
            help="Overall deadline per request, headers to last byte (s).",
        ),
    ) -> None:
        """Benchmark an endpoint: decode, TTFT, prefill, concurrency, prefix cache, tools, speculation.

        With any load knob (--input-tokens, --output-tokens, --dataset, --rate, --duration, --requests,
        --prefix-groups) the run is one `workload` scenario: sustained --concurrency N (N requests always
        in flight), or an open loop at --rate R; every request keeps its intended send time next to its
        send time. With --prefix-groups each prompt opens with one of G shared prefixes, then
        --input-tokens of its own; the prefix-cache hit rate is measured beside what a cache could serve.

        With --sessions N the run is one `sessions` scenario: N users at once, each through --turns
        turns whose history carries the server's real replies, paced by --think-time or a
        user-centric --rate; TTFT, prompt and cached tokens are reported per turn. With
        --tool-result-tokens the sessions are agent loops: turns offer tools, each tool call is
        answered with a synthetic result and sent back, and every call is judged valid or not.

        With --trace FILE the run is one `replay` scenario: each request of a Mooncake trace (its first
        --requests) sent at its timestamp x --time-scale, its prompt built so equal hash_ids are equal
        token blocks (x --length-scale); the send-time error and the cache hit rate the trace allows
        are reported beside the measured one.

        Exit codes: 0 the run completed and no more than --max-error-rate of its measured requests
        failed; 1 it is partial or failed, or too many requests failed (the message groups them by
        kind); 2 bad input; 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
        """
        knobs = suites.WorkloadKnobs(
            input_tokens=parse_lengths(input_tokens, "--input-tokens") if input_tokens else None,
            output_tokens=parse_lengths(output_tokens, "--output-tokens") if output_tokens else None,
            dataset=dataset,
            rates=parse_rates(rate),
            arrival=arrival.value,
            duration_s=duration,
            requests=requests,
            seed=seed,
            prefixes=SharedPrefixes(prefix_groups, prefix_tokens, prefix_zipf) if prefix_groups else None,
            sessions=sessions,
            turns=parse_lengths(turns, "--turns") if turns else None,
            think_time_s=think_time,
            tool_choice=tool_choice.value if tool_choice else None,
            tool_result_tokens=parse_lengths(tool_result_tokens, "--tool-result-tokens")
            if tool_result_tokens
            else None,
            trace=trace,
            trace_format=trace_format.value,
            time_scale=time_scale,
            length_scale=length_scale,
            trace_block_tokens=trace_block_tokens,
        )
        suite_name, scenarios = suites.choose(
            suite.value,
            scenario or None,
            repeat,
            parse_levels(concurrency),
            knobs,
            parse_precision(precision),
            max_repeats,
            SLO.parse(slo),
        )
        spec = TargetSpec(target, model, api_key_env, hardware, keep)
        result = measure(
            lambda s, store, bar: run_bench(
                s,
                store,
                scenarios,
                spec,
                suite=suite_name,
                **bar.hooks(),
                client_config=ClientConfig(request_deadline_s=request_timeout),
                workers=workers,
                max_error_rate=max_error_rate,
            ),
            fmt,
        )
        finish(result)
