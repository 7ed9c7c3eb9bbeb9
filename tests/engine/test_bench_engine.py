"""dyno bench on the real embedded engine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dyno.bench import suites
from dyno.bench.runner import run_bench
from dyno.bench.summary import summarize_run
from dyno.engine.target import TargetSpec
from dyno.store import Store
from tests.conftest import RunningEngine

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_quick_suite_rows_agree_with_metrics(engine: RunningEngine) -> None:
    env = {**os.environ, "DYNO_HOME": str(engine.settings.home), "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "dyno.cli", "bench", "--suite", "quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr + out.stdout[-3000:]
    with Store(engine.settings.db_path) as store:
        run = store.list_runs(kind="bench")[0]
        assert run.status == "complete" and run.engine_version == "0.32.0"
        assert run.launch_config is not None  # dyno launched this engine, so its recipe is on record
        scenarios = store.scenarios(run.id)
        assert [(s.name, s.status) for s in scenarios] == [
            ("decode", "complete"),
            ("ttft", "complete"),
            ("concurrency", "complete"),
        ]
        reqs = store.requests(run.id)
        report = summarize_run(store, run.id)
    # decode: 1 warm-up + 3x128; ttft: 1 + 3; concurrency: 1 + (1 + 4)
    assert len(reqs) == 4 + 4 + 6 and all(r.ok for r in reqs)
    assert all(r.output_tokens == 128 for r in reqs if r.scenario == "decode" and r.label == "128")
    for s in report.scenarios:
        t = s.tokens
        assert t.usage_tokens > 0
        assert t.metrics_tokens == t.usage_tokens and t.chunk_tokens == t.usage_tokens
    assert report.warnings == []
    rows = {(r.scenario, r.label, r.metric): r for s in report.scenarios for r in s.rows}
    assert rows[("decode", "128", "decode_tok_s")].n == 3
    assert rows[("concurrency", "4", "aggregate_tok_s")].mean is not None


def test_spec_decode_measures_acceptance_on_an_ngram_engine(spec_tools_engine: RunningEngine) -> None:
    eng = spec_tools_engine
    with Store(eng.settings.db_path) as store:
        res = run_bench(eng.settings, store, suites.select("standard", ["spec-decode"]), TargetSpec(eng.url))
        assert res.status == "complete"
        report = summarize_run(store, res.run_id)
    spec = report.scenarios[0]
    rows = {(r.label, r.metric): r for r in spec.rows}
    assert not any(n.startswith("speculation off") for n in spec.notes)
    accepted_any = False
    for kind in ("code", "prose", "json"):
        rate = rows[(kind, "acceptance_rate")].mean
        assert rate is not None and 0 <= rate <= 1
        accepted = rows[(kind, "accepted_tokens")].mean or 0
        per_pos = [rows[(kind, f"accept_at_{i}")].mean or 0 for i in range(1, 5)]
        drafts = rows[(kind, "drafts")].mean or 0
        # per-position acceptance rates x drafts = per-position accepted counts; they sum to the total
        assert sum(p * drafts for p in per_pos) == pytest.approx(accepted)
        assert rows[(kind, "mean_acceptance_length")].mean == pytest.approx(1 + accepted / drafts)
        accepted_any = accepted_any or accepted > 0
    assert accepted_any
    assert report.warnings == []


def test_sessions_on_the_engine_report_the_cache_serving_each_turns_history(engine: RunningEngine) -> None:
    """vLLM's own usage (cached_tokens, from --enable-prompt-tokens-details in the embedded profile)
    grows turn by turn as the history does, and never passes what an unlimited cache could serve."""
    from dyno.bench.scenarios.sessions import Sessions
    from dyno.workloads.sessions import SessionSpec
    from dyno.workloads.shapes import Lengths

    sc = Sessions(
        spec=SessionSpec(2, Lengths("fixed", 3)),
        input_tokens=Lengths("fixed", 150),
        output_tokens=Lengths("fixed", 8),
    )
    with Store(engine.settings.db_path) as store:
        res = run_bench(engine.settings, store, [sc], TargetSpec(engine.url), suite="sessions")
        assert res.status == "complete"
        reqs = [r for r in store.requests(res.run_id) if r.label != "warmup"]
        (summary,) = summarize_run(store, res.run_id).scenarios
    assert len(reqs) == 6 and all(r.ok and r.prompt_tokens for r in reqs)
    rows = {(r.label, r.metric): r.mean for r in summary.rows}
    cached = [rows[(f"t{k}", "cached_tokens")] or 0 for k in (1, 2, 3)]
    bound = [rows[(f"t{k}", "cached_tokens_bound")] or 0 for k in (1, 2, 3)]
    assert cached[1] > 0 and cached[2] > cached[1]  # 128-token blocks of a history that grows
    assert all(c <= b for c, b in zip(cached, bound, strict=True)), (cached, bound)


def test_agent_sessions_on_the_tools_engine_call_answer_and_judge(spec_tools_engine: RunningEngine) -> None:
    """SmolLM2 with Hermes tool calling, each task turn `required` to call a tool: vLLM constrains the
    reply to a call of an offered tool, so every task turn comes back as a parsed call (135M parameters
    do not fill the arguments in well: validity is the model's, and is what the rows report), and
    the next turn carries the call and its result back, which the chat template must accept."""
    from dyno.bench.scenarios.sessions import Sessions
    from dyno.workloads.sessions import SessionSpec
    from dyno.workloads.shapes import Lengths

    eng = spec_tools_engine
    sc = Sessions(
        spec=SessionSpec(2, Lengths("fixed", 4)),
        tool_result_tokens=Lengths("fixed", 64),
        tool_choice="required",
    )
    with Store(eng.settings.db_path) as store:
        res = run_bench(eng.settings, store, [sc], TargetSpec(eng.url), suite="sessions")
        assert res.status == "complete"
        reqs = [r for r in store.requests(res.run_id) if r.label != "warmup"]
        (summary,) = summarize_run(store, res.run_id).scenarios
    assert len(reqs) == 8 and all(r.ok for r in reqs)
    rows = {(r.label, r.metric): r.mean for r in summary.rows}
    n = {(r.label, r.metric): r.n for r in summary.rows}
    assert rows[("t1", "tool_call_rate")] == 1.0 and ("t1", "valid_tool_calls") in rows
    # each t1 call was answered, and its answer was the next turn (a tool-result turn, not a new task)
    assert n[("tool-result turns", "ttft_ms")] >= 2 and ("user turns", "ttft_ms") in rows
    by = {(r.seq, r.label): r for r in reqs}
    assert all((by[(s, "t2")].prompt_tokens or 0) > (by[(s, "t1")].prompt_tokens or 0) for s in (0, 1))
    # the bound is computed on the prompt the server saw, tools included (its /tokenize with tools)
    assert (rows[("t2", "cached_tokens_bound")] or 0) > 0
