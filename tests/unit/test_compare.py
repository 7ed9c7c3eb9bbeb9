"""dyno compare: intervals from raw samples, mismatches marked, the field's table shape."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dyno.bench.stats import ratio_ci
from dyno.client.records import Chunk, RequestRecord
from dyno.errors import UsageError
from dyno.provenance import RunProvenance
from dyno.report.compare import build_comparison
from dyno.report.compare_render import to_csv, to_json, to_markdown
from dyno.store import Store

MS = 1_000_000


def test_ratio_interval_from_known_samples() -> None:
    rng = random.Random(4)
    base = [rng.gauss(100, 4) for _ in range(200)]
    faster = [x * 1.2 for x in base]  # exactly 20% faster, the same spread scaled
    ci = ratio_ci(faster, base, "mean")
    assert ci is not None and ci.ratio == pytest.approx(1.2)
    assert ci.low < 1.2 < ci.high and not ci.within_noise
    same = ratio_ci([rng.gauss(100, 4) for _ in range(200)], base, "median")
    assert same is not None and same.within_noise  # two draws of one distribution: noise
    one = ratio_ci([1.0], base)  # one sample has no interval, and neither "better" nor "noise" is said
    assert one is not None and not one.has_interval and not one.within_noise
    assert "too few samples: n=1" in one.text()
    again = ratio_ci(faster, base, "mean")
    assert again == ci  # seeded: a report says the same thing each time it is rendered


def rec(seq: int, itl_ms: float, label: str = "128", scenario: str = "decode") -> RequestRecord:
    chunks = [Chunk(int((100 + itl_ms * i) * MS), "content", 1) for i in range(16)]
    return RequestRecord(
        params={"max_tokens": 16, "ignore_eos": True},
        t_sent_ns=0,
        t_first_content_ns=100 * MS,
        t_end_ns=chunks[-1].t_ns + MS,
        chunks=tuple(chunks),
        prompt_tokens=30,
        output_tokens=16,
        finish_reason="length",
        scenario=scenario,
        label=label,
        seq=seq,
    )


def make(
    store: Store,
    itl_ms: float,
    *,
    flags: list[str],
    revision: str = "r1",
    hardware: str = "cpu x2",
    lengths: list[int] | None = None,
) -> int:
    key = {"model": "m", "model_revision": revision, "quant": "bf16", "engine": "vllm", "engine_version": "0.32.0",
           "flags": flags, "hardware": hardware}  # fmt: skip
    run = store.start_run(
        kind="bench",
        prov=RunProvenance(
            endpoint="http://h", engine="vllm", engine_version="0.32.0", model="m", key_properties=key
        ),
    )
    sid = store.start_scenario(run, "decode", {"lengths": lengths or [128], "repeat": 8})
    for i in range(8):
        store.add_request(run, rec(i, itl_ms * (1 + 0.01 * (i % 3))))
    store.finish_scenario(sid, "complete", [], {})
    store.finish_run(run, "complete")
    return run


def test_mismatches_are_marked_and_a_different_workload_is_not_compared(tmp_path: Path) -> None:
    with Store(tmp_path / "x.db") as st:
        a = make(st, 10.0, flags=["--enforce-eager"])
        b = make(st, 8.0, flags=["--enforce-eager", "--speculative-config", "{}"], revision="r2")
        c = make(st, 8.0, flags=["--enforce-eager"], hardware="gb10", lengths=[256])
        comp = build_comparison(st, [a, b, c])
    cfg = {x.run.id: x for x in comp.configs}
    assert cfg[a].mismatches == []
    assert cfg[b].mismatches == ["model_revision: 'r2' vs baseline 'r1'"]
    assert "+--speculative-config '{}'" in cfg[b].name  # the flags that set it apart name the config
    assert any(m.startswith("hardware") for m in cfg[c].mismatches)
    col = next(x for x in comp.columns if x.metric == "decode_tok_s")
    fast = comp.cell(b, col)
    assert fast is not None and fast.ratio is not None and fast.ratio.ratio == pytest.approx(1.25, rel=0.02)
    other = comp.cell(c, col)
    assert other is not None and other.ratio is None and other.point_ratio is None
    assert "workload differs" in other.note


def test_the_markdown_table_has_a_row_per_config_and_a_column_per_figure(tmp_path: Path) -> None:
    with Store(tmp_path / "x.db") as st:
        ids = [make(st, 10.0, flags=[]), make(st, 9.0, flags=["--x"])]
        comp = build_comparison(st, ids)
    md = to_markdown(comp)
    table = [line for line in md.splitlines() if line.startswith("|")]
    header = table[0].split("|")[1:-1]
    assert header[0].strip() == "config" and header[-1].strip() == "lossless"
    assert len(header) == len(comp.columns) + 2
    assert len(table) == 2 + len(ids)  # header, rule, one row per config
    assert "(baseline)" in table[2] and "×" in table[3]
    doc = json.loads(to_json(comp))
    assert doc["baseline_run"] == ids[0] and len(doc["configs"]) == 2
    assert to_csv(comp).splitlines()[0].startswith("run_id,baseline,config")


def test_compare_needs_two_bench_runs(tmp_path: Path) -> None:
    with Store(tmp_path / "x.db") as st:
        a = make(st, 10.0, flags=[])
        with pytest.raises(UsageError, match="at least two"):
            build_comparison(st, [a])
