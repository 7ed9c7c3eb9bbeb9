"""dyno capacity against a test server with a KNOWN capacity: the level found exactly, the limit named.

The pacing fixture (tests/fixtures/pacing_server.py), in a process of its own so the client's
timings carry none of its work, is given a capacity two ways:
- `slots=k`: k requests generate at once, the rest wait FIFO and their first token waits with them
  (vLLM's --max-num-seqs): under a TTFT objective the answer is k, and the limit a queue;
- `itl_per_stream_s`: every stream's gap between tokens grows with the streams generating, so a
  TPOT objective holds to a level set by arithmetic: the answer is that level, and the limit the batch.
Margins between the objective and the fixture's pace are several milliseconds either side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dyno.bench.slo import SLO
from dyno.capacity.result import summarize_capacity
from dyno.capacity.runner import CapacityOptions, run_capacity
from dyno.engine.target import TargetSpec
from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.shapes import Lengths
from tests.fixtures.pacing import StartPacing, StartPacingProcess

# A request holds its slot 10 + 7 x 20 = 150 ms. With k slots and k+1 streams a queued request waits
# for the next slot to free: 150 / k ms when completions spread out (25 at k=6), the whole 150 when
# they come in lockstep; either way its TTFT passes 10 + 25 = 35 > 22 ms, while a request with a
# slot free takes 10. (16 tokens 4 ms apart against 35 ms put 4 streams on 3 slots at 33 ms, and kept
# dyno's own process over 90% of a core at 7 streams on a 2-core AMD EPYC: indeterminate, client-bound.)
QUEUE_PACE = {"ttft_s": 0.01, "itl_s": 0.02}
QUEUE_SLO, QUEUE_TOKENS = "ttft_ms<=22", 8


def capacity(url: str, slo: list[str], output_tokens: int, **kw: object):  # type: ignore[no-untyped-def]
    s = Settings.from_env()
    parsed = SLO.parse(slo)
    assert parsed is not None
    settings: dict[str, object] = {
        "output_tokens": Lengths("fixed", output_tokens),
        "input_tokens": Lengths("fixed", 16),
        "max_concurrency": 16,
        "sample_period_s": 0.25,
    }
    opts = CapacityOptions(slo=parsed, **(settings | kw))  # type: ignore[arg-type]
    with Store(s.db_path) as store:
        out = run_capacity(s, store, TargetSpec(url), opts)
        return out, summarize_capacity(store, out.run_id)


@pytest.mark.parametrize("slots", [3, 6])
def test_a_queue_behind_k_slots_is_found_at_k_and_named_a_queue(
    pacing_process: StartPacingProcess, dyno_home: Path, slots: int
) -> None:
    srv = pacing_process(slots=slots, **QUEUE_PACE)
    out, rep = capacity(srv.url, [QUEUE_SLO], QUEUE_TOKENS)
    assert out.exit_code == 0, out.message
    assert rep.answer.capacity == slots and rep.answer.resolved
    assert rep.limit.kind == "queue", rep.limit.sentence
    assert f"at most {slots} at once" in rep.limit.sentence
    assert rep.sentence.startswith(f"Capacity: {slots} streams at once ({QUEUE_SLO}, for 95% of requests)")
    failing = rep.probe(slots + 1)
    assert failing is not None and failing.verdict == "fail"
    assert failing.attainment.high < 0.95  # decided, not indeterminate


def test_a_batch_that_slows_every_stream_is_found_where_tpot_crosses_and_named_the_batch(
    pacing_process: StartPacingProcess, dyno_home: Path
) -> None:
    # TPOT at c streams = 4 + 12 (c - 1) ms: 52 at 5, 64 at 6; the objective sits 6 ms from each.
    # (At 2 and then 3 ms a side, the fixture's own lateness on a loaded CI machine put 5% of the
    # requests at 5 over: the search said "indeterminate".) Lateness is per gap, so 8 tokens keep
    # the margin and halve the probe's time.
    srv = pacing_process(ttft_s=0.01, itl_s=0.004, itl_per_stream_s=0.012)
    out, rep = capacity(srv.url, ["tpot_ms<=58"], 8)
    assert out.exit_code == 0, out.message
    assert rep.answer.capacity == 5 and rep.answer.resolved
    assert rep.limit.kind == "batch", rep.limit.sentence
    assert [p.level for p in rep.probes] == [1, 2, 4, 8, 6, 5]
    assert all(p.verdict == ("pass" if p.level <= 5 else "fail") for p in rep.probes)


def test_every_probe_stores_its_requests_its_series_and_what_it_did_not_judge(
    pacing_process: StartPacingProcess, dyno_home: Path
) -> None:
    srv = pacing_process(slots=2, **QUEUE_PACE)
    out, rep = capacity(srv.url, [QUEUE_SLO], QUEUE_TOKENS, sample_period_s=0.1)
    s = Settings.from_env()
    with Store(s.db_path) as store:
        reqs = store.requests(out.run_id)
    for p in rep.probes:
        a = p.attainment
        assert a.counted == len([r for r in reqs if r.label == str(p.level)])
        ramp = [r for r in reqs if r.label == f"{p.level}/ramp"]
        assert len(ramp) == p.level - 1  # the first level - 1 sent, before the load was whole
        assert a.excluded == len([r for r in reqs if r.label.startswith(f"{p.level}/")])
        assert len(p.series) >= 1 and p.series.peak("running") is not None
    # The level over the slots shows the queue in its series: requests waited.
    failing = rep.probe(3)
    assert failing is not None and (failing.series.peak("waiting") or 0) >= 1


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", "capacity", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )


def test_the_cli_prints_the_sentence_first_and_json_with_the_documented_keys(
    pacing_process: StartPacingProcess, dyno_home: Path
) -> None:
    srv = pacing_process(slots=2, **QUEUE_PACE)
    common = [srv.url, "--slo", QUEUE_SLO, "--output-tokens", str(QUEUE_TOKENS), "--max-concurrency", "8"]
    r = run_cli(*common, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["capacity_concurrency"] == 2 and doc["resolved"] is True
    assert doc["first_failing"]["level"] == 3 and doc["first_failing"]["high"] < 0.95
    assert doc["limit"]["kind"] == "queue"
    for p in doc["probes"]:
        assert {"level", "n", "attainment", "low", "high", "verdict", "seconds"} <= set(p)
    text = subprocess.run(
        [sys.executable, "-m", "dyno.cli", "report", str(doc["run_id"]), "--format", "md"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[2].startswith("Capacity: 2 streams at once")


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "needs at least one --slo"),
        (("--slo", "ttft<=5"), "--slo 'ttft<=5'"),
        (("--slo", "ttft_ms<=500", "--attainment", "1.5"), "--attainment"),
        (("--slo", "ttft_ms<=500", "--format", "html"), "--format takes text, md or json"),
    ],
)
def test_bad_input_is_a_usage_error_before_anything_runs(
    dyno_home: Path, args: tuple[str, ...], message: str
) -> None:
    r = run_cli("http://127.0.0.1:9", *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert not (dyno_home / "dyno.db").exists() or "stored as run" not in r.stderr


def test_compare_shows_each_configs_capacity_and_the_difference(
    pacing_process: StartPacingProcess, dyno_home: Path
) -> None:
    from dyno.report.compare import CAPACITY_COLUMN, build_comparison
    from dyno.report.compare_render import to_json

    two = pacing_process(slots=2, **QUEUE_PACE)
    three = pacing_process(slots=3, **QUEUE_PACE)
    a, _ = capacity(two.url, [QUEUE_SLO], QUEUE_TOKENS, start=2, max_concurrency=4)
    b, _ = capacity(three.url, [QUEUE_SLO], QUEUE_TOKENS, start=2, max_concurrency=4)
    other, _ = capacity(three.url, ["ttft_ms<=400"], QUEUE_TOKENS, start=2, max_concurrency=4)
    s = Settings.from_env()
    with Store(s.db_path) as store:
        c = build_comparison(store, [a.run_id, b.run_id, other.run_id])
    cell = c.cell(b.run_id, CAPACITY_COLUMN)
    assert cell is not None and cell.value == 3
    assert "+1 vs baseline" in cell.text(baseline=False)
    mismatch = c.cell(other.run_id, CAPACITY_COLUMN)
    assert mismatch is not None and "another SLO" in mismatch.text(baseline=False)
    assert "vs baseline" not in mismatch.text(baseline=False)
    doc = json.loads(to_json(c))
    assert {cfg["kind"] for cfg in doc["configs"]} == {"capacity"}


def test_a_capacity_search_sends_the_users_shared_prefixes_one_plan_for_every_probe(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    from dyno.workloads.prefixes import SEP, SharedPrefixes

    srv = pacing_server(ttft_s=0.001, itl_s=0.0005)
    out, rep = capacity(
        srv.url, ["ttft_ms<=5000"], 2, max_concurrency=2, prefixes=SharedPrefixes(groups=2, tokens=24)
    )
    assert out.exit_code == 0, out.message
    assert rep.answer.capacity == 2
    texts = [str(r.body["messages"][-1]["content"]) for r in srv.sent_log if r.path == "/v1/chat/completions"]
    heads = {t.split(SEP)[0] for t in texts}
    assert len(texts) > 10 and len(heads) == 2  # both probes drew from the same two prefixes
    assert all(len(h.split()) == 24 for h in heads)
