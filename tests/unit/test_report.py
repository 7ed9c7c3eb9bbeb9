"""Reports are derived from stored rows; disagreements are shown, never resolved."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from dyno.bench.summary import summarize_run
from dyno.client.records import Chunk, RequestRecord
from dyno.provenance import RunProvenance
from dyno.report import to_csv, to_json, to_markdown
from dyno.report.terminal import print_report
from dyno.store import Store

M = Path(__file__).parent.parent / "fixtures" / "metrics"
MS = 1_000_000


def rec(label: str, seq: int, tokens: int, *, t0: int = 0, scenario: str = "decode") -> RequestRecord:
    # sent at t0, first content at +100 ms, one token per chunk every 50 ms
    chunks = [Chunk(t0 + 20 * MS, "empty", 0)]
    chunks += [Chunk(t0 + (100 + 50 * i) * MS, "content", 1) for i in range(tokens)]
    return RequestRecord(
        scenario=scenario,
        label=label,
        seq=seq,
        params={"max_tokens": tokens, "ignore_eos": True},
        t_sent_ns=t0,
        t_first_chunk_ns=t0 + 20 * MS,
        t_first_content_ns=t0 + 100 * MS,
        t_end_ns=chunks[-1].t_ns + MS,
        chunks=tuple(chunks),
        prompt_tokens=30,
        output_tokens=tokens,
        finish_reason="length",
    )


def make_run(tmp_path: Path, usage_tokens: list[int]) -> tuple[Store, int]:
    st = Store(tmp_path / "x.db")
    run = st.start_run(
        kind="bench",
        prov=RunProvenance(
            endpoint="http://h:1",
            engine="vllm",
            engine_version="0.32.0",
            model="m",
            launch_config={"recipe": {"flags": ["--enforce-eager", "--max-model-len", "2048"]}},
            hardware={"cpu_model": "Test CPU", "logical_cores": 2, "gpus": []},
            server_info={"max_model_len": 2048},
        ),
    )
    sid = st.start_scenario(run, "decode", {"lengths": [10]})
    st.add_scrape(run, "decode", "before", 1, (M / "vllm-0.32-cpu-before.txt").read_text())
    for i, n in enumerate(usage_tokens):
        st.add_request(run, rec("10", i, n))
    st.add_scrape(run, "decode", "after", 2, (M / "vllm-0.32-cpu-after.txt").read_text())
    st.finish_scenario(sid, "complete", ["a stored note"], {})
    st.finish_run(run, "complete")
    return st, run


def test_markdown_is_shaped_like_a_field_report(tmp_path: Path) -> None:
    # The real scrapes between them saw 20 generated tokens: 10 + 10 agree.
    st, run = make_run(tmp_path, [10, 10])
    rep = summarize_run(st, run)
    md = to_markdown(rep)
    assert "| engine | model | revision | quant | max_model_len | launch flags | hardware |" in md
    assert "`--enforce-eager --max-model-len 2048`" in md and "Test CPU (2 cores)" in md
    assert "| setting | decode tok/s | median | min | max | TTFT (ms) |" in md
    # 10 tokens, first content at 100 ms, last at 550 ms: (10 - 1) / 0.45 s = 20 tok/s exactly.
    line = next(x for x in md.splitlines() if x.startswith("| 10 |"))
    assert "| 20.0 ± 0.0 | 20.0 | 20.0 | 20.0 | 100 ± 0.0 |" in line
    assert "usage 20 · per-chunk 20 · /metrics 20 · agree" in md
    assert "- a stored note" in md
    assert rep.warnings == []


def test_a_wide_table_turns_on_its_side_on_a_narrow_terminal(tmp_path: Path) -> None:
    # rich squeezes a dozen columns into 80 by wrapping every cell to '20…'; one row per figure reads
    st, run = make_run(tmp_path, [10, 10])
    rep = summarize_run(st, run)

    def printed(width: int) -> str:
        console = Console(width=width, record=True, file=io.StringIO())
        print_report(rep, console)
        return console.export_text()

    narrow, wide = printed(80), printed(250)
    assert "…" not in narrow
    assert any(x.startswith("│ decode tok/s") and "20.0 ± 0.0" in x for x in narrow.splitlines())
    assert any(x.startswith("│ 10 ") and "20.0 ± 0.0" in x for x in wide.splitlines())


def test_a_token_disagreement_is_reported(tmp_path: Path) -> None:
    st, run = make_run(tmp_path, [10, 15])  # usage 25, /metrics saw 20
    rep = summarize_run(st, run)
    assert "DISAGREE" in to_markdown(rep)
    assert rep.warnings == ["decode: usage says 25 output tokens, /metrics delta says 20"]
    assert json.loads(to_json(rep))["warnings"] == rep.warnings


def test_csv_and_json_carry_the_same_rows(tmp_path: Path) -> None:
    st, run = make_run(tmp_path, [10, 10])
    rep = summarize_run(st, run)
    rows = list(csv.DictReader(io.StringIO(to_csv(rep))))
    doc = json.loads(to_json(rep))
    assert {r["metric"] for r in rows} == {r["metric"] for r in doc["scenarios"][0]["results"]}
    dec = next(r for r in rows if r["metric"] == "decode_tok_s")
    assert float(dec["mean"]) == 20.0 and dec["run_id"] == str(run) and dec["model"] == "m"
    assert doc["run"]["engine_version"] == "0.32.0" and doc["config"]["engine"] == "vllm 0.32.0"


def test_warmups_are_stored_but_excluded(tmp_path: Path) -> None:
    st, run = make_run(tmp_path, [10, 10])
    st.add_request(run, rec("warmup", 0, 3))
    rep = summarize_run(st, run)
    dec = next(r for r in rep.scenarios[0].rows if r.metric == "decode_tok_s")
    assert dec.n == 2
    assert len(st.requests(run)) == 3


@pytest.mark.parametrize(("cpu", "noted"), [(0.9, True), (0.3, False)])
def test_a_saturated_client_is_called_out(tmp_path: Path, cpu: float, noted: bool) -> None:
    st = Store(tmp_path / "x.db")
    run = st.start_run(kind="bench", prov=RunProvenance(endpoint="http://h:1"))
    sid = st.start_scenario(run, "decode", {})
    st.add_request(run, rec("10", 0, 10))
    st.finish_scenario(sid, "complete", [], {"client_cpu_fraction": cpu})
    notes = summarize_run(st, run).scenarios[0].notes
    assert any("of a CPU core" in n for n in notes) is noted


def test_a_p99_from_too_few_samples_is_marked(tmp_path: Path) -> None:
    # The ttft scenario quotes TTFT p50/p90/p99; from 3 requests its "p99" is the largest seen.
    st = Store(tmp_path / "x.db")
    run = st.start_run(kind="bench")
    sid = st.start_scenario(run, "ttft", {})
    for i in range(3):
        st.add_request(run, rec("short", i, 4, scenario="ttft"))
    st.finish_scenario(sid, "complete", [], {})
    st.finish_run(run, "complete")
    notes = summarize_run(st, run).scenarios[0].notes
    assert any("a p99 here comes from 3 samples, fewer than the 299" in n for n in notes), notes
