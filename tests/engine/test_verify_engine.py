"""dyno verify on the real embedded engine: ngram speculation against the plain engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dyno.client import Endpoint
from dyno.metrics import counter_delta, parse
from dyno.settings import Settings
from dyno.store import Store
from tests.conftest import RunningEngine

pytestmark = [pytest.mark.engine, pytest.mark.slow]

PROMPTS = 12
MAX_TOKENS = 48


def test_ngram_speculation_against_the_plain_engine_reports_a_match_rate(
    engine: RunningEngine, spec_tools_engine: RunningEngine
) -> None:
    with Endpoint(spec_tools_engine.url) as ep:
        before = ep.metrics_text()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dyno.cli",
            "verify",
            spec_tools_engine.url,
            "--baseline",
            engine.url,
            "--suite",
            "lossless",
            "--limit",
            str(PROMPTS),
            "--max-tokens",
            str(MAX_TOKENS),
            "--format",
            "json",
        ],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    lossless = doc["suites"]["lossless"]
    rate = lossless["match_rate"]
    print(
        f"\nngram speculation vs plain, greedy: match rate {rate:.1%} ({lossless['matches']}/{lossless['n']})"
    )
    for m in lossless["mismatches"]:
        print(f"  {m['id']}: char {m['char_index']}, word {m['word_index']}")
    assert lossless["n"] == PROMPTS and 0.0 <= rate <= 1.0
    # the exit code follows the engine's own bar
    assert out.returncode == (0 if rate >= 0.8 else 1) == doc["verdict"]["exit_code"]
    # every mismatch between two healthy engines is a real divergence, not an error
    assert all(m["char_index"] is not None for m in lossless["mismatches"])

    sides = doc["sides"]
    assert sides["candidate"]["url"] == spec_tools_engine.url and sides["baseline"]["url"] == engine.url
    assert sides["candidate"]["engine_version"] == sides["baseline"]["engine_version"] == "0.32.0"

    # the candidate really speculated while it answered
    with Endpoint(spec_tools_engine.url) as ep:
        after = ep.metrics_text()
    assert before is not None and after is not None
    drafts = counter_delta(parse(before), parse(after), "vllm:spec_decode_num_drafts_total")
    assert drafts is not None and drafts > 0

    with Store(Settings.from_env().db_path) as store:
        reqs = store.requests(doc["run"]["id"])
    assert len(reqs) == 2 * PROMPTS and all(r.ok for r in reqs)
    assert all(0 < (r.output_tokens or 0) <= MAX_TOKENS for r in reqs)
