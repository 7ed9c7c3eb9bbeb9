"""`dyno demo`: embedded engine up, a short real measurement, a table, stored, engine down."""

from __future__ import annotations

import shlex

import typer
from rich.markup import escape
from rich.table import Table

from dyno.bench.demo import CONCURRENCY, DECODE_REPEATS, DECODE_TOKENS, DemoResult, run_demo
from dyno.bench.stats import Summary
from dyno.cli._common import console, fmt_duration, settings, steps
from dyno.engine import profiles
from dyno.store import Store


def _pm(s: Summary | None, digits: int = 1) -> str:
    return "-" if s is None else f"{s.pm(digits)}  (n={s.n})"


def render(res: DemoResult) -> Table:
    f = res.figures
    st = res.engine
    flags = shlex.join(st.recipe.get("flags", []))
    t = Table(title=f"dyno demo (run {res.run_id}, {res.status})", title_justify="left")
    t.add_column("measurement")
    t.add_column("value", justify="right")
    t.add_column("how")
    t.add_row("engine", f"vLLM {st.engine_version or '?'}", f"profile {st.profile}")
    t.add_row("model", st.served_name, escape(flags))
    if res.ready_s is not None:
        t.add_row("ready in", f"{res.ready_s:.0f} s", "process start -> /v1/models lists the model")
    t.add_row(
        "decode tok/s, 1 stream",
        _pm(f.decode_tok_s),
        f"{DECODE_REPEATS}× {DECODE_TOKENS} tokens, mean ± std, prefill excluded",
    )
    ceiling = res.decode_ceiling_tok_s
    if ceiling is not None and f.decode_tok_s is not None:
        t.add_row(
            "decode roofline, 1 stream",
            f"{ceiling:.0f}",
            f"plan: one core's bandwidth / bytes per token; measured is {f.decode_tok_s.mean / ceiling:.0%}",
        )
    t.add_row("TTFT ms, 1 stream", _pm(f.ttft_ms, 0), "sent -> first content chunk")
    agg = f.concurrent_aggregate_tok_s
    t.add_row(
        f"aggregate tok/s, {CONCURRENCY} streams",
        "-" if agg is None else f"{agg:.1f}",
        "all tokens / wall span",
    )
    t.add_row(
        f"per-request tok/s, {CONCURRENCY} streams",
        _pm(f.concurrent_per_request_tok_s),
        "each stream's decode tok/s",
    )
    t.add_row(f"TTFT ms, {CONCURRENCY} streams", _pm(f.concurrent_ttft_ms, 0), "")
    gen = res.metrics_generation_tokens
    check = "-" if gen is None else f"{f.usage_output_tokens} usage / {gen:.0f} /metrics"
    t.add_row("output tokens", check, "server usage vs vllm:generation_tokens_total delta")
    if f.errors:
        t.add_row("[red]failed requests[/]", str(f.errors), "see `dyno runs`")
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        profile: str = typer.Option(profiles.DEFAULT_PROFILE, "--profile", help="Engine profile to demo."),
        keep: bool = typer.Option(False, "--keep", help="Leave the engine running afterwards."),
        port: int = typer.Option(None, "--port", help="Port for the engine (default: a free one)."),
    ) -> None:
        """Bring the embedded engine up, measure decode/TTFT/concurrency, store the run, take it down."""
        s = settings()
        with Store(s.db_path) as store, steps("dyno demo") as display:
            res = run_demo(
                s,
                store,
                profile=profile,
                keep=keep,
                port=port,
                step=display.step,
                on_progress=display.engine_progress,
            )
        console.print(render(res))
        if res.figures.sanity_text:
            console.print(f"[dim]model said:[/] {escape(res.figures.sanity_text[:200])}")
        tail = (
            f"engine still up at {res.engine.url} (`dyno down` to stop)" if res.kept_up else "engine stopped"
        )
        console.print(
            f"stored as run {res.run_id} in {s.db_path}; {tail}; took {fmt_duration(res.elapsed_s)}"
        )
