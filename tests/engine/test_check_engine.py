"""dyno check against the real embedded engines: plain, spec+tools, base model, behind a router."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dyno.engine import supervisor
from dyno.engine.models import fetch
from dyno.probe.runner import CheckOptions, run_check
from dyno.settings import Settings
from dyno.store import Store
from tests.conftest import RunningEngine, start_engine
from tests.fixtures.fallback_router import fallback_router, router_url

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def check(eng: RunningEngine, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    env = {**os.environ, "DYNO_HOME": str(eng.settings.home)}
    out = subprocess.run(
        [sys.executable, "-m", "dyno.cli", "check", eng.url, "--format", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    doc = json.loads(out.stdout)
    return out.returncode, {c["id"]: c for c in doc["checks"]}


def test_plain_engine_fails_tool_calling_with_the_400_explained(engine: RunningEngine) -> None:
    rc, c = check(engine)
    assert rc == 1
    assert c["tools"]["status"] == "fail"
    assert '"auto" tool choice requires --enable-auto-tool-choice' in str(c["tools"]["evidence"])
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in str(c["tools"]["fix"])
    assert [c[k]["status"] for k in ("reachable", "chat", "streaming", "exposure")] == ["pass"] * 4
    assert c["spec"]["status"] == "skipped" and c["reasoning"]["status"] == "skipped"
    with Store(engine.settings.db_path) as store:  # stored as a run of kind check, with its requests
        run = store.list_runs(kind="check")[0]
        assert run.engine_version == "0.32.0"
        assert {c.check_id for c in store.checks(run.id)} >= {"chat", "tools", "spec", "identity"} - {
            "identity"
        }
        assert any(r.scenario == "tools" and r.http_status == 400 for r in store.requests(run.id))


def test_spec_tools_engine_passes_or_warns_on_tools_and_measures_acceptance(
    spec_tools_engine: RunningEngine,
) -> None:
    rc, c = check(spec_tools_engine, "--expect-spec")
    assert c["tools"]["status"] in ("pass", "warn")  # a 135M model's tool use is poor, not a crash
    assert c["spec"]["status"] in ("pass", "warn")
    facts = c["spec"]["facts"]
    assert isinstance(facts, dict) and facts["acceptance_rate"] > 0 and facts["drafts"] > 0
    assert rc == 0


def test_identity_fails_through_a_fallback_router_and_passes_without_one(
    engine: RunningEngine, spec_tools_engine: RunningEngine
) -> None:
    # primary: no tool flags (tools-auto gets a 400); secondary: tool calling on.
    for fallback, want in ((True, "fail"), (False, "pass")):
        with (
            fallback_router(engine.url, spec_tools_engine.url, fallback=fallback) as srv,
            Store(engine.settings.db_path) as store,
        ):
            rep = run_check(engine.settings, store, CheckOptions(url=engine.url, via=router_url(srv)))
        ident = next(r for r in rep.results if r.id == "identity")
        assert ident.status == want, ident.evidence
        if fallback:
            assert ident.facts["diverged"] == ["tools-auto"]
            assert srv.fallbacks >= 1
            assert "reports the same model name" in ident.evidence


@pytest.fixture(scope="module")
def base_engine(tmp_path_factory: pytest.TempPathFactory, shared_models: Path) -> Iterator[RunningEngine]:
    fetch(Settings(home=shared_models.parent), "gemma3-270m-base")
    eng = start_engine(
        tmp_path_factory.mktemp("engine"), shared_models, "gemma-base", profile="gemma3-base", reap=False
    )
    yield eng
    supervisor.stop(eng.settings)


def test_base_model_is_reported_as_such(base_engine: RunningEngine) -> None:
    rc, c = check(base_engine)
    assert rc == 1
    chat = c["chat"]
    assert chat["status"] == "fail"
    assert "chat template" in str(chat["evidence"])
    assert "base model" in str(chat["fix"]) and "-it drafter" in str(chat["fix"])
    assert c["streaming"]["status"] == "pass"  # checked through /v1/completions instead
