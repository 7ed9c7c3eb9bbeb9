"""`dyno plan` as JSON and as terminal text: the chosen config, the candidates, the launch command, lint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dyno.catalog.types import Hardware, Model
from dyno.lint import build_context, lint
from dyno.plan import Goal, Plan, PlanRequest, make_plan
from dyno.plan.kv import kv_bytes_per_context_token
from dyno.plan.recommend import Candidate
from dyno.recipe import Recipe, to_argv
from dyno.recipe.from_plan import recipe_for
from dyno.recipe.render import render_emit
from dyno.redact import redact_argv, redact_env


@dataclass(frozen=True)
class PlanReport:
    plan: Plan
    recipe: Recipe
    findings: list[dict[str, str]]
    rendered: str  # the launch command in the form asked for


def build_plan_report(
    hardware: Hardware,
    model: Model,
    request: PlanRequest,
    *,
    emit: str = "argv",
    head_ip: str = "HEAD_IP",
    worker_ip: str = "WORKER_IP",
    interface: str | None = None,
) -> PlanReport:
    """Plan, the recipe for the chosen config, its lint findings, and its launch command."""
    p = make_plan(hardware, model, request)
    recipe = recipe_for(p)
    findings = [f.to_dict() for f in lint(build_context(recipe, hardware=hardware))]
    rendered = render_emit(recipe, emit, head_ip=head_ip, worker_ip=worker_ip, interface=interface)
    return PlanReport(p, recipe, findings, rendered)


def _candidate_dict(c: Candidate, goal: Goal) -> dict[str, Any]:
    return {
        "config": c.label,
        "quant": c.quant,
        "checkpoint": c.checkpoint,
        "kv_dtype": c.kv_dtype,
        "spec_method": c.spec_method,
        "spec_k": c.spec_k,
        "fits": c.fit.fits,
        "weights_gb": round(c.fit.weights_gb, 3),
        "decode_ceiling_tok_s": round(c.decode_ceiling_tok_s, 2),
        "decode_ceiling_spec_tok_s": round(c.spec.decode_ceiling_spec_tok_s, 2) if c.spec else None,
        "aggregate_ceiling_tok_s": round(c.batch.aggregate_tok_s, 2),
        "kernel_factor": c.kernel_factor,
        "score": round(c.score(goal), 2),
        "notes": list(c.notes),
    }


def plan_json(rep: PlanReport) -> dict[str, Any]:
    plan, recipe, findings, rendered = rep.plan, rep.recipe, rep.findings, rep.rendered
    c, hw, m = plan.chosen, plan.hardware, plan.model
    spec = c.spec
    return {
        "hardware": hw.id,
        "model": m.id,
        "quant": c.quant,
        "checkpoint": c.checkpoint,
        "kv_dtype": c.kv_dtype,
        "goal": plan.request.goal,
        "context_tokens": plan.context_tokens,
        "concurrency": plan.request.concurrency,
        "memory_bandwidth_gb_s": hw.memory_bandwidth_gb_s,
        "memory_gb": hw.memory_gb,
        "weights_gb": round(c.fit.weights_gb, 3),
        "bytes_per_token": round(c.token_bytes.total),
        "bytes_per_token_parts": {
            "attention": round(c.token_bytes.attention),
            "mlp": round(c.token_bytes.mlp),
            "experts": round(c.token_bytes.experts),
            "router": round(c.token_bytes.router),
            "lm_head": round(c.token_bytes.lm_head),
            "kv_cache": round(c.token_bytes.kv_cache),
        },
        "kv_bytes_per_token": round(c.token_bytes.kv_cache),
        "kv_bytes_per_context_token": round(kv_bytes_per_context_token(m, c.kv_dtype)),
        "kv_cache_gb": round(c.fit.kv_cache_gb, 3),
        "memory_utilization": plan.memory_utilization,
        "memory_budget_gb": round(c.fit.budget_gb, 3),
        "fits": c.fit.fits,
        "max_context_tokens": c.fit.max_context_tokens,
        "max_sequences": c.fit.max_sequences,
        "decode_ceiling_tok_s": round(c.decode_ceiling_tok_s, 2),
        "spec_method": c.spec_method,
        "acceptance": list(c.acceptance) if isinstance(c.acceptance, tuple) else c.acceptance,
        "acceptance_assumed": c.acceptance_assumed,
        **(
            {
                "decode_ceiling_spec_tok_s": round(spec.decode_ceiling_spec_tok_s, 2),
                "moe_independent_spec_tok_s": round(spec.moe_independent_tok_s, 2),
                "expected_tokens_per_step": round(spec.expected_tokens_per_step, 3),
            }
            if spec
            else {}
        ),
        "best_spec_k": c.spec_k,
        "spec_curve": [
            {
                "k": p.k,
                "expected_tokens_per_step": round(p.expected_tokens_per_step, 3),
                "decode_ceiling_spec_tok_s": round(p.decode_ceiling_spec_tok_s, 2),
                "moe_independent_spec_tok_s": round(p.moe_independent_tok_s, 2),
            }
            for p in c.spec_curve
        ],
        "batch_curve": [
            {
                "concurrency": b.concurrency,
                "aggregate_tok_s": round(b.aggregate_tok_s, 2),
                "per_request_tok_s": round(b.per_request_tok_s, 2),
                "moe_independent_aggregate_tok_s": round(b.moe_independent_aggregate_tok_s, 2),
                "bound": b.bound,
            }
            for b in plan.batch_curve
        ],
        "prefill_estimate_s": {str(n): round(s, 4) for n, s in plan.prefill_estimate_s},
        "prefill_is_estimate": True,
        "candidates": [_candidate_dict(x, plan.request.goal) for x in plan.candidates],
        "recipe": redact_argv(to_argv(recipe)),
        "recipe_env": redact_env(dict(recipe.env)),
        "rendered": rendered,
        "lint": findings,
        "estimated": sorted(hw.estimated) + [f"model.{k}" for k in sorted(m.estimated)],
        "measured": dict(hw.measured),
        "isa_flags": list(hw.isa_flags) if hw.isa_flags is not None else None,
        "native_bf16": hw.native_bf16,
        "matmul_gflop_s": {
            m.dtype: {"decode": round(m.decode_gflop_s, 2), "prefill": round(m.prefill_gflop_s, 2)}
            for m in hw.matmul
        },
        "notes": list(plan.notes),
    }


def _gb(b: float) -> str:
    return f"{b / 1e9:.2f} GB"


def print_text(rep: PlanReport, console: Console) -> None:
    plan, findings, rendered = rep.plan, rep.findings, rep.rendered
    c, hw, m = plan.chosen, plan.hardware, plan.model
    bw = float(f"{hw.memory_bandwidth_gb_s:.3g}")  # a measured CPU figure has no 6 honest digits
    # A CPU's model shares RAM with everything else (the entry says so), but it is not "unified".
    kind = "RAM" if not hw.is_gpu else ("unified" if hw.unified_memory else "dedicated")
    console.print(
        f"[bold]{escape(m.id)}[/] on [bold]{escape(hw.id)}[/] ({escape(hw.name)}: {bw:g} GB/s, "
        f"{hw.memory_gb:.3g} GB {kind})",
        highlight=False,
    )
    console.print(
        f"context {plan.context_tokens} tokens, concurrency {plan.request.concurrency}, "
        f"goal {plan.request.goal}, memory utilisation {plan.memory_utilization:.2f}",
        highlight=False,
    )
    table = Table(title="candidate configs: physics ceilings, best first", title_justify="left")
    for col in ("#", "config", "weights GB", "fits", "ceiling tok/s", "spec tok/s", "kernel", "rank"):
        table.add_column(col, justify="left" if col in ("config", "fits") else "right")
    for i, x in enumerate(plan.candidates[:12], 1):
        spec = "-"
        if x.spec:
            spec = f"{x.spec.decode_ceiling_spec_tok_s:.1f}"
            if m.is_moe:  # the MoE penalty: draft positions routed to their own experts
                spec += f" ({x.spec.moe_independent_tok_s:.1f})"
        table.add_row(
            str(i),
            escape(x.label),
            f"{x.fit.weights_gb:.1f}",
            "yes" if x.fit.fits else "[red]no[/]",
            f"{x.decode_ceiling_tok_s:.1f}",
            spec,
            f"x{x.kernel_factor:g}",
            f"{x.score(plan.request.goal):.1f}",
        )
    console.print(table)
    if m.is_moe:
        console.print("[dim](n): the same with each draft position routed to its own experts[/]")
    seen: list[str] = []
    for x in plan.candidates:
        seen += [n for n in x.notes if n not in seen and not n.startswith("assumed acceptance")]
    for n in seen:
        console.print(f"[dim]kernel: {escape(n)}[/]", highlight=False)
    tb = c.token_bytes
    console.print(f"[bold]chosen:[/] {escape(c.label)}  ({escape(c.checkpoint)})", highlight=False)
    console.print(
        f"bytes per token {_gb(tb.total)} (attention {_gb(tb.attention)}, mlp {_gb(tb.mlp)}, "
        f"experts {_gb(tb.experts)}, output projection {_gb(tb.lm_head)}, KV cache {_gb(tb.kv_cache)}) "
        f"-> decode ceiling {c.decode_ceiling_tok_s:.1f} tok/s at {bw:g} GB/s",
        highlight=False,
    )
    if c.spec:
        acc = f"{c.acceptance}" + (" (assumed)" if c.acceptance_assumed else "")
        console.print(
            f"speculative {c.spec_method} k={c.spec_k}, acceptance {acc}: "
            f"{c.spec.expected_tokens_per_step:.2f} tokens/step -> ceiling "
            f"{c.spec.decode_ceiling_spec_tok_s:.1f} tok/s",
            highlight=False,
        )
    f = c.fit
    console.print(
        f"memory: weights {f.weights_gb:.1f} + KV {f.kv_cache_gb:.1f} + overhead {f.overhead_gb:.1f} = "
        f"{f.needed_gb:.1f} of {f.budget_gb:.1f} GB -> {'fits' if f.fits else '[red]does not fit[/]'}; "
        f"max context {f.max_context_tokens} tokens, max sequences at this context {f.max_sequences}",
        highlight=False,
    )
    curve = ", ".join(f"{b.concurrency}: {b.aggregate_tok_s:.0f}" for b in plan.batch_curve)
    console.print(f"batch ceiling (concurrency: aggregate tok/s): {curve}", highlight=False)
    if plan.prefill_estimate_s:
        pf = ", ".join(f"{n} tok {s:.2f} s" for n, s in plan.prefill_estimate_s)
        console.print(f"prefill (estimate, compute-bound): {pf}", highlight=False)
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print("[bold]launch:[/]")
    console.print(escape(rendered.rstrip()), highlight=False, soft_wrap=True)
    if findings:
        console.print("[bold]lint:[/]")
        for fd in findings:
            console.print(f"  {fd['severity']:5} {fd['id']}: {escape(fd['message'])}", highlight=False)
