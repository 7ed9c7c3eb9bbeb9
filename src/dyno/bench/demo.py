"""`dyno demo`: the embedded engine up, the `demo` suite through the bench runner, stored, engine down.

The demo is not a measurement of its own: it is `dyno bench` with the demo
suite against the embedded profile, so `dyno report` of a demo run shows
exactly what the demo printed, /metrics scrapes included.
"""

from __future__ import annotations

from collections.abc import Callable

from dyno.bench import suites
from dyno.bench.runner import BenchProgress, BenchResult, run_bench
from dyno.engine import profiles, supervisor
from dyno.engine.target import TargetSpec
from dyno.settings import Settings
from dyno.store.sink import RunSink


def run_demo(
    settings: Settings,
    sink: RunSink,
    *,
    profile: str = profiles.DEFAULT_PROFILE,
    keep: bool = False,
    port: int | None = None,
    progress: BenchProgress | None = None,
    step: Callable[[str], None] = lambda _m: None,
    on_engine_progress: supervisor.ProgressFn | None = None,
    max_error_rate: float = 0.0,
) -> BenchResult:
    return run_bench(
        settings,
        sink,
        suites.select("demo"),
        TargetSpec(ref=profile, keep=keep, port=port),
        suite="demo",
        kind="demo",
        progress=progress,
        step=step,
        on_engine_progress=on_engine_progress,
        max_error_rate=max_error_rate,
        every_scenario=True,
    )
