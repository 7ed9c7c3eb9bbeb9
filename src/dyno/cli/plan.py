"""`dyno plan --hardware H --model M ...`: ceilings, memory fit, the best config, and its launch command."""

from __future__ import annotations

import json
from enum import StrEnum

import typer

from dyno.bench import here
from dyno.catalog import get_hardware, get_model
from dyno.cli._common import console, settings
from dyno.errors import UsageError
from dyno.plan import PlanRequest
from dyno.plan.spec import Acceptance
from dyno.report.plan import build_plan_report, plan_json, print_text
from dyno.report.terminal import print_here


class KvChoice(StrEnum):
    auto = "auto"
    fp8 = "fp8"


class SpecChoice(StrEnum):
    mtp = "mtp"
    ngram = "ngram"
    draft_model = "draft_model"


class GoalChoice(StrEnum):
    latency = "latency"
    throughput = "throughput"


class Emit(StrEnum):
    argv = "argv"
    docker = "docker"
    compose = "compose"
    ray = "ray"


class PlanFormat(StrEnum):
    text = "text"
    json = "json"


def parse_acceptance(raw: str | None) -> Acceptance | None:
    """`0.7` or per-position conditional rates `0.8,0.7,0.6`."""
    if raw is None:
        return None
    try:
        rates = [float(x) for x in raw.split(",") if x.strip()]
    except ValueError as e:
        raise UsageError(f"--acceptance {raw!r}: give a rate like 0.7 or rates like 0.8,0.7,0.6") from e
    if not rates or any(not 0 <= r <= 1 for r in rates):
        raise UsageError(f"--acceptance {raw!r}: rates must lie in [0, 1]")
    return rates[0] if len(rates) == 1 else tuple(rates)


def register(app: typer.Typer) -> None:
    @app.command()
    def plan(
        hardware: str = typer.Option(..., "--hardware", help="Hardware id (gb10, h100-sxm, cpu, ...)."),
        model: str = typer.Option(..., "--model", help="Catalog model id (gemma-4-26b-a4b-it, ...)."),
        quant: str = typer.Option(None, "--quant", help="Weight format (bf16, fp8, nvfp4, ...)."),
        kv_dtype: KvChoice = typer.Option(None, "--kv-dtype", help="KV-cache dtype."),
        context: int = typer.Option(None, "--context", min=1, help="Context length per sequence (tokens)."),
        concurrency: int = typer.Option(1, "--concurrency", min=1, help="Sequences decoding at once."),
        spec_method: SpecChoice = typer.Option(None, "--spec-method", help="Speculative method."),
        spec_k: int = typer.Option(
            None, "--spec-k", min=1, help="num_speculative_tokens (default: the best k); needs --spec-method."
        ),
        acceptance: str = typer.Option(
            None, "--acceptance", help="Acceptance rate (0.7) or per-position rates (0.8,0.7,0.6)."
        ),
        draft_model: str = typer.Option(None, "--draft-model", help="Catalog model id for draft_model."),
        goal: GoalChoice = typer.Option(GoalChoice.latency, "--goal", help="Single user, or throughput."),
        memory_utilization: float = typer.Option(
            None,
            "--gpu-memory-utilization",
            min=0.01,
            max=1.0,
            help="Fraction of memory for vLLM (default: per hardware).",
        ),
        emit: Emit = typer.Option(Emit.argv, "--emit", help="Form of the launch command."),
        head_ip: str = typer.Option("HEAD_IP", "--head-ip", help="--emit ray: the head box's address."),
        worker_ip: str = typer.Option("WORKER_IP", "--worker-ip", help="--emit ray: the worker's address."),
        interface: str = typer.Option(None, "--interface", help="--emit ray: NIC linking the two boxes."),
        fmt: PlanFormat = typer.Option(PlanFormat.text, "--format", help="Output format."),
    ) -> None:
        """Predict decode ceilings and memory fit, pick a config, and print its launch command."""
        req = PlanRequest(
            context_tokens=context,
            concurrency=concurrency,
            quant=quant,
            kv_dtype=kv_dtype.value if kv_dtype else None,
            spec_method=spec_method.value if spec_method else None,
            spec_k=spec_k,
            acceptance=parse_acceptance(acceptance),
            goal=goal.value,
            memory_utilization=memory_utilization,
            draft_model=draft_model,
        )
        hw = get_hardware(hardware, cpu_cache=settings().cache_dir)
        rep = build_plan_report(
            hw,
            get_model(model),
            req,
            emit=emit.value,
            head_ip=head_ip,
            worker_ip=worker_ip,
            interface=interface,
        )
        if fmt is PlanFormat.json:
            print(json.dumps(plan_json(rep), indent=1))
        else:
            print_text(rep, console)
            if not hw.is_gpu:  # the plan's physics, then what this machine measured
                print_here(here.advice(settings(), rep.plan.model.id), console)
