"""Trace replay against the pacing server (one token per word, a known LRU prefix cache with vLLM's
counters): equal hash ids arrive as byte-equal blocks, requests leave at the trace's timestamps
x --time-scale, and an unlimited cache serves exactly the bound dyno computes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dyno.bench import suites
from dyno.bench.runner import run_bench
from dyno.bench.scenario import ResultRow
from dyno.bench.scenarios.replay import Replay
from dyno.bench.summary import summarize_run
from dyno.client import RequestRecord
from dyno.engine.target import TargetSpec
from dyno.errors import UsageError
from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.traces import load_trace, trace_hit_bound
from tests.fixtures.pacing import StartPacing

MOONCAKE = Path(__file__).parent.parent / "fixtures" / "traces" / "mooncake_conversation_head40.jsonl"


def write_trace(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(url: str, sc: Replay) -> tuple[list[RequestRecord], dict[str, ResultRow], list[str]]:
    s = Settings.from_env()
    store = Store(s.db_path)
    rid = run_bench(s, store, [sc], TargetSpec(url), suite="replay").run_id
    rep = summarize_run(store, rid)
    reqs = [r for r in store.requests(rid) if r.label == "replay"]
    store.close()
    (summary,) = rep.scenarios
    return reqs, {r.metric: r for r in summary.rows}, list(summary.notes)


def test_equal_hash_ids_are_byte_equal_blocks_sent_on_the_traces_clock(
    pacing_server: StartPacing, dyno_home: Path, tmp_path: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, prefix_cache_blocks=10_000, block_tokens=4)
    trace = write_trace(
        tmp_path / "t.jsonl",
        [
            {"timestamp": 0, "input_length": 1000, "output_length": 3, "hash_ids": [1, 2]},
            {"timestamp": 40, "input_length": 1500, "output_length": 3, "hash_ids": [1, 2, 3]},
            {"timestamp": 90, "input_length": 700, "output_length": 3, "hash_ids": [1, 5]},
            {"timestamp": 150, "input_length": 400, "output_length": 3, "hash_ids": [7]},
        ],
    )
    # Blocks of 512 x 0.1 = 51 tokens; arrivals 2x slower than the trace's.
    sc = Replay(trace=load_trace(trace), time_scale=2.0, length_scale=0.1)
    reqs, rows, notes = run(srv.url, sc)
    prompts = [r.body["prompt"].split() for r in srv.sent_log if r.path == "/v1/completions"][1:]
    assert [len(p) for p in prompts] == [100, 150, 70, 40]  # input lengths x 0.1, a token per word
    b = 51
    assert prompts[0] == prompts[1][:100]  # hash ids 1, 2 (the first's last block cut at its length)
    assert prompts[0][:b] == prompts[2][:b] and prompts[0][b : 2 * b] != prompts[2][b : 2 * b]
    assert prompts[3][:b] != prompts[0][:b]  # hash id 7 is its own block
    t0 = min(r.t_intended_ns or 0 for r in reqs)
    for r, ts in zip(sorted(reqs, key=lambda r: r.seq), (0, 40, 90, 150), strict=True):
        assert r.t_intended_ns is not None and r.t_intended_ns - t0 == ts * 2 * 1_000_000
        assert r.t_sent_ns >= r.t_intended_ns
    # A roomy cache, requests one at a time: what it served is what dyno says an unlimited one can.
    assert rows["cache_hit_rate"].mean == pytest.approx(rows["cache_hit_rate_bound"].mean, abs=1e-12)
    assert rows["cache_hit_rate"].mean > 0.3
    assert "dispatch_delay_ms" in rows and rows["dispatch_delay_ms"].n == 4
    assert any("scaled by 0.1" in n for n in notes), notes


def test_prompts_past_the_context_are_left_out_with_the_scale_that_fits(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.001, itl_s=0.0005, max_model_len=2048)
    sc = Replay(trace=load_trace(MOONCAKE, limit=6), time_scale=0.01)
    reqs, _, notes = run(srv.url, sc)
    (note,) = [n for n in notes if "do not fit" in n]
    assert not reqs and note.startswith("6 of 6 trace requests")  # its head runs 6-8K tokens
    # The longest of them (7,322 tokens) in the 2,048 less the longest output (794): 0.17.
    assert "--length-scale 0.17 fits them all" in note


def test_a_replay_the_server_cannot_keep_up_with_names_the_time_scale_that_would(
    pacing_server: StartPacing, dyno_home: Path, tmp_path: Path
) -> None:
    # One request at a time, 0.2 s each; the trace offers one every 10 ms.
    srv = pacing_server(ttft_s=0.01, itl_s=0.05, slots=1)
    rows = [{"timestamp": 10 * i, "input_length": 20, "output_length": 4, "hash_ids": [i]} for i in range(8)]
    sc = Replay(trace=load_trace(write_trace(tmp_path / "t.jsonl", rows)))
    _, _, notes = run(srv.url, sc)
    assert any("fell behind the trace" in n and "--time-scale" in n for n in notes), notes


def test_the_public_trace_head_loads_in_its_own_format() -> None:
    trace = load_trace(MOONCAKE)
    assert len(trace.requests) == 40 and trace.block_tokens == 512
    assert all(len(r.hash_ids) == -(-r.input_tokens // 512) for r in trace.requests)
    hits, total = trace_hit_bound(trace)
    assert 0 < hits < total


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2 is not valid JSON"),
        ('{"timestamp": -1, "input_length": 5, "output_length": 1, "hash_ids": []}', "line 2: `timestamp`"),
        ('{"timestamp": 1, "input_length": 0, "output_length": 1, "hash_ids": []}', "line 2: `input_length`"),
        ('{"timestamp": 1, "input_length": 5, "output_length": 1, "hash_ids": ["a"]}', "line 2: `hash_ids`"),
        ("[1, 2]", "line 2: each line must be a JSON object"),
    ],
)
def test_a_malformed_trace_line_is_refused_by_number(tmp_path: Path, line: str, message: str) -> None:
    good = '{"timestamp": 0, "input_length": 5, "output_length": 1, "hash_ids": [0]}'
    path = tmp_path / "t.jsonl"
    path.write_text(f"{good}\n{line}\n")
    with pytest.raises(UsageError, match=message):
        load_trace(path)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"trace": MOONCAKE, "sessions": 2}, "--sessions does not apply to --trace"),
        ({"trace": MOONCAKE, "rates": (2.0,)}, "--rate does not apply to --trace"),
        ({"time_scale": 2.0}, "add --trace FILE"),
        ({"trace": MOONCAKE, "time_scale": 0.0}, "--time-scale takes a factor > 0"),
    ],
)
def test_replay_knobs_that_contradict_are_refused(knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        suites.choose("quick", None, None, None, suites.WorkloadKnobs(**knobs))


def test_trace_blocks_under_the_servers_block_are_named_and_the_knob_sets_them(
    pacing_server: StartPacing, dyno_home: Path, tmp_path: Path
) -> None:
    srv = pacing_server(ttft_s=0.001, itl_s=0.0005, prefix_cache_blocks=1000, block_tokens=64)
    rows = [
        {"timestamp": 0, "input_length": 2000, "output_length": 2, "hash_ids": [1, 2, 3, 4]},
        {"timestamp": 5, "input_length": 2000, "output_length": 2, "hash_ids": [1, 2, 3, 9]},
    ]
    trace = load_trace(write_trace(tmp_path / "t.jsonl", rows))
    _, _, notes = run(srv.url, Replay(trace=trace, length_scale=0.1))  # 51-token blocks
    assert any("under the server's 64-token cache block" in n for n in notes), notes
    _, kept_rows, notes = run(srv.url, Replay(trace=trace, length_scale=0.1, block_tokens=64))
    assert not any("under the server's" in n for n in notes), notes
    prompts = [r.body["prompt"].split() for r in srv.sent_log if r.path == "/v1/completions"]
    last, before = prompts[-1], prompts[-2]
    assert len(last) == 200 and last[:192] == before[:192] and last[192:] != before[192:]  # 3 x 64 shared
    assert kept_rows["cache_hit_rate"].mean == pytest.approx(kept_rows["cache_hit_rate_bound"].mean)
