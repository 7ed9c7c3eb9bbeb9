"""dyno against a replay of Ollama's documented API (tests/fixtures/ollama_replay.py; not Ollama).

Check and bench go through the CLI as a user runs them; the native client and
the facts are read over HTTP from the replay. The replay reports nominal
timings, so the server-side figures are known exactly.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dyno.client import Endpoint, GenRequest
from dyno.client.ollama import OllamaTiming, gather_facts
from dyno.client.ollama_stream import OllamaNativeClient
from dyno.engine.target import TargetSpec, open_target
from dyno.probe.ollama import judge_context
from dyno.probe.runner import CheckOptions, run_check
from dyno.settings import Settings
from dyno.store import Store
from tests.fixtures.ollama_replay import MODEL, replaying


def dyno(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DYNO_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_a_target_at_the_replay_is_ollama_and_healthy_without_a_health_route() -> None:
    with replaying() as srv:
        with open_target(Settings.from_env(), TargetSpec(srv.url)) as target:
            assert (target.engine, target.engine_version, target.model) == ("ollama", "0.33.0-rc2", MODEL)
        with Endpoint(srv.url) as ep:
            assert ep.status_code("/health") == 404  # Ollama has none; dyno must not call it down for that
            assert ep.healthy("/")


@pytest.mark.parametrize(("scenario", "code"), [("healthy", 0), ("split", 1)])
def test_dyno_check_fails_a_split_model_and_passes_a_healthy_one(
    dyno_home: Path, scenario: str, code: int
) -> None:
    with replaying(scenario) as srv:
        out = dyno(dyno_home, "check", srv.url)
    assert out.returncode == code, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    with Store(Settings.from_env().db_path) as store:
        checks = {c.check_id: c for c in store.checks(store.list_runs()[0].id)}
    status = {k: c.status for k, c in checks.items()}
    # The generic checks do not hold Ollama's missing /health and /metrics against it.
    assert status["reachable"] == "pass" and checks["reachable"].evidence.startswith("/ 200")
    assert (status["spec"], status["streaming"], status["tools"]) == ("skipped", "pass", "pass")
    assert (status["ollama-cold-load"], status["ollama-context"]) == ("pass", "pass")
    assert status["ollama-server-timing"] != "fail"  # pass or warn: it compares two clocks' rates
    split = checks["ollama-split"]
    if scenario == "healthy":
        assert split.status == "pass" and split.facts["gpu_fraction"] == 1.0
    else:
        # docs/openapi.yaml's own example: 5333539264 of 6591830464 bytes in VRAM.
        assert split.status == "fail"
        assert "5.0 of 6.1 GiB on the GPU, 19% (1.2 GiB) on the CPU" in split.evidence
        assert "num_ctx" in split.fix and "OLLAMA_NUM_PARALLEL" in split.fix


def test_a_cold_model_is_loaded_by_the_first_request_and_the_check_says_so() -> None:
    s = Settings.from_env()
    with replaying("cold", load_s=0.4) as srv, Store(s.db_path) as store:
        rep = run_check(s, store, CheckOptions(srv.url))
        requests = store.requests(rep.run_id)
        log = list(srv.log)
    cold = next(r for r in rep.results if r.id == "ollama-cold-load")
    assert cold.status == "warn" and "keep_alive" in cold.fix
    assert cold.facts["loaded_before"] is False and cold.facts["load_duration_ms"] == 400.0
    # The load sits inside the first request's TTFT: the replay slept 0.4 s before its first token.
    assert cold.facts["ttft_ms"] >= 400.0
    # Only the first request loaded the model, and it was the check's native one.
    assert [g.loaded_model for g in log] == [True] + [False] * (len(log) - 1)
    assert log[0].path == "/api/chat"
    first, second = (r for r in requests if r.params.get("endpoint") == "ollama:/api/chat")
    assert (first.scenario, first.label) == ("ollama-cold-load", "first")
    assert first.server_timing and first.server_timing["load_duration_ms"] == 400.0
    assert second.server_timing and second.server_timing["load_duration_ms"] == 1.334875  # warm


def test_native_timing_is_stored_in_milliseconds_with_the_rates_ollama_means() -> None:
    # 40 tokens at 5 ms each: eval_duration 200_000_000 ns = 200 ms = 200 tok/s. A factor of 1000
    # anywhere (us or s taken for ms) moves every one of these by 1000x.
    with replaying(itl_s=0.005, prompt_eval_s=0.025) as srv:

        async def one() -> OllamaTiming | None:
            async with OllamaNativeClient(srv.url) as native:
                req = GenRequest(MODEL, ({"role": "user", "content": "four words of prompt"},), max_tokens=40)
                rec = await native.generate(req)
            assert rec.ok, rec.error_message
            assert (rec.output_tokens, rec.prompt_tokens, rec.finish_reason) == (40, 4, "length")
            assert rec.server_timing is not None and rec.server_timing["source"] == "ollama"
            return OllamaTiming.from_server_timing(rec.server_timing)

        t = asyncio.run(one())
    assert t is not None
    assert (t.eval_count, t.eval_duration_ms, t.decode_tok_s) == (40, 200.0, 200.0)
    assert (t.prompt_eval_count, t.prompt_eval_duration_ms, t.prefill_tok_s) == (4, 25.0, 160.0)
    assert t.load_duration_ms == 1.334875
    assert t.server_ttft_ms == pytest.approx(26.334875)
    assert t.total_duration_ms == pytest.approx(226.334875)


def test_a_default_num_ctx_far_below_the_trained_context_is_a_warning() -> None:
    with replaying("context") as srv, Endpoint(srv.url) as ep:
        facts = gather_facts(ep, "llama3.2")  # the user may leave ":latest" off
    assert facts.loaded is not None and facts.card is not None
    assert (facts.loaded.context_length, facts.card.trained_context) == (4096, 131072)
    verdict = judge_context(facts)
    assert verdict.status == "warn"
    assert "allocated 4096 tokens" in verdict.evidence and "trained for 131072" in verdict.evidence
    assert "num_ctx" in verdict.fix and "OLLAMA_CONTEXT_LENGTH" in verdict.fix


def test_dyno_bench_measures_ollama_through_v1_and_its_warmup_takes_the_load(dyno_home: Path) -> None:
    with replaying("cold", itl_s=0.001, load_s=0.2) as srv:
        out = dyno(dyno_home, "bench", srv.url, "--suite", "quick")
        log = list(srv.log)
    assert out.returncode == 0, out.stdout + out.stderr
    with Store(Settings.from_env().db_path) as store:
        run = store.list_runs()[0]
        requests = sorted(store.requests(run.id), key=lambda r: r.t_sent_ns)
    assert (run.kind, run.status, run.engine) == ("bench", "complete", "ollama")
    assert len(requests) == len(log) and all(r.ok for r in requests)
    assert all(g.path == "/v1/chat/completions" for g in log)
    # The request that paid for the load is a warm-up, which no figure includes.
    assert [g.loaded_model for g in log].count(True) == 1 and log[0].loaded_model
    assert requests[0].label == "warmup"
