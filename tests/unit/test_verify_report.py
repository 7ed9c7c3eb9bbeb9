"""Judging stored verify rows, the verdict, and the report rendered from the store alone."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from dyno.client.records import RequestRecord
from dyno.provenance import RunProvenance
from dyno.report.verify import print_text, to_csv, to_json, to_markdown
from dyno.settings import Settings
from dyno.store import Store
from dyno.verify.evaluate import facts, judge, verdict
from dyno.verify.suites import SuitePlan, plan_suites
from dyno.verify.summary import build_verify_report
from dyno.workloads.verify_sets import LOSSLESS_PROMPTS, MATH_PROBLEMS


def rec(
    plan: SuitePlan,
    label: str,
    seq: int,
    text: str = "",
    *,
    tool_calls: tuple[dict[str, Any], ...] = (),
    error: str | None = None,
) -> RequestRecord:
    return RequestRecord(
        scenario=plan.scenario,
        label=label,
        seq=seq,
        params={"max_tokens": plan.max_tokens},
        t_sent_ns=0,
        t_end_ns=1,
        output_text=text,
        tool_calls=tool_calls,
        finish_reason="stop" if error is None else None,
        http_status=200 if error is None else 500,
        error_kind=None if error is None else error,
        error_message=None if error is None else "boom",
    )


def plans(limit: int = 5) -> dict[str, SuitePlan]:
    return {p.name: p for p in plan_suites(("lossless", "math", "tools"), limit=limit)}


def lossless_records(p: SuitePlan) -> list[RequestRecord]:
    out = []
    for i in range(5):
        base = f"reply {i}: the quick brown fox"
        cand = base if i < 3 else base.replace("brown", "red")
        out += [rec(p, "candidate", i, cand), rec(p, "baseline", i, base)]
    return out


def test_lossless_judgement_and_the_bar() -> None:
    p = plans()["lossless"]
    r = judge("lossless", p.config(), lossless_records(p))
    assert (r.n, r.matches, r.match_rate) == (5, 3, 0.6)
    assert not r.passed
    mism = [i for i in r.items if not i.match]
    assert [i.index for i in mism] == [3, 4]
    d = mism[0].divergence
    assert d is not None and d.char_index == len("reply 3: the quick ") and d.word_index == 4
    assert (d.candidate_tail, d.baseline_tail) == ("red fox", "brown fox")
    assert r.by_type() == {"code": (1, 2), "prose": (1, 2), "json": (1, 1)}
    v = verdict([r])
    assert not v.passed and v.exit_code == 1 and "60.0% (3/5) is below the 80% bar" in v.reasons[0]


def test_a_failed_or_missing_answer_is_a_mismatch_with_its_error() -> None:
    p = plans()["lossless"]
    records = [rec(p, "candidate", i, "same") for i in range(5)]
    records += [rec(p, "baseline", i, "same") for i in range(3)]
    records.append(rec(p, "baseline", 3, error="timeout"))
    r = judge("lossless", p.config(), records)
    assert r.matches == 3
    assert r.items[3].baseline_error == "timeout: boom" and r.items[3].divergence is None
    assert r.items[4].baseline_error is not None and "not run" in r.items[4].baseline_error
    # both sides failing is no evidence of a match either
    both = judge("lossless", p.config(), [rec(p, s, 0, error="connect") for s in ("candidate", "baseline")])
    assert not both.items[0].match


def test_math_judgement_pairs_outcomes() -> None:
    p = plans(limit=10)["math"]
    records = []
    for i in range(10):
        right = MATH_PROBLEMS[i].answer
        records.append(rec(p, "baseline", i, f"Working...\nAnswer: {right}"))
        records.append(rec(p, "candidate", i, f"Answer: {right}" if i >= 6 else "Answer: 99999"))
    r = judge("math", p.config(), records)
    assert (r.accuracy("candidate"), r.accuracy("baseline")) == (0.4, 1.0)
    assert (r.paired.b, r.paired.c, r.paired.p_value) == (6, 0, 0.03125)
    assert r.paired.candidate_worse
    v = verdict([r])
    assert not v.passed and "b=6, c=0, exact McNemar p=0.03125" in v.reasons[0]
    f = facts(r)
    assert f["mcnemar"]["b"] == 6 and f["mcnemar"]["significant"] is True
    first = f["items"][0]
    assert (first["id"], first["expected"], first["candidate_answer"], first["baseline_answer"]) == (
        "math-01",
        "7",
        "99999",
        "7",
    )
    assert (first["candidate_correct"], first["baseline_correct"]) == (False, True)


def test_a_numerics_change_faces_not_worse_where_speculation_faces_identical() -> None:
    # 3/5 identical: speculation (lossless) fails; a dtype change (quality) passes on that alone,
    # and fails only when math is significantly worse.
    ps = plans(limit=10)
    lossless = judge("lossless", ps["lossless"].config(), lossless_records(ps["lossless"]))
    same_math, worse_math = [], []
    for i in range(10):
        right = MATH_PROBLEMS[i].answer
        same_math += [rec(ps["math"], s, i, f"Answer: {right}") for s in ("candidate", "baseline")]
        worse_math.append(rec(ps["math"], "baseline", i, f"Answer: {right}"))
        worse_math.append(rec(ps["math"], "candidate", i, f"Answer: {right}" if i >= 6 else "Answer: 99999"))
    equal = judge("math", ps["math"].config(), same_math)
    worse = judge("math", ps["math"].config(), worse_math)
    assert not verdict([lossless, equal]).passed
    assert not verdict([lossless, equal], "lossless").passed
    assert verdict([lossless, equal], "quality").passed
    q = verdict([lossless, worse], "quality")
    assert not q.passed and len(q.reasons) == 1 and "math accuracy is significantly worse" in q.reasons[0]


def test_the_gate_chooses_its_test_by_what_the_candidate_changes() -> None:
    from dyno.tune.gate import gate_test
    from dyno.tune.space import Candidate

    base = Candidate((("dtype", "bfloat16"), ("num_speculative_tokens", 0)))
    assert gate_test(base, base) == "lossless"
    assert gate_test(base, Candidate((("dtype", "bfloat16"), ("num_speculative_tokens", 3)))) == "lossless"
    assert gate_test(base, Candidate((("dtype", "float32"), ("num_speculative_tokens", 0)))) == "quality"
    assert gate_test(base, Candidate((("dtype", "float32"), ("num_speculative_tokens", 3)))) == "quality"
    kv = Candidate((("kv_cache_dtype", "auto"),))
    assert gate_test(kv, Candidate((("kv_cache_dtype", "fp8"),))) == "quality"
    seqs = Candidate((("max_num_seqs", 4),))
    assert gate_test(seqs, Candidate((("max_num_seqs", 8),))) == "lossless"


def test_math_better_on_the_candidate_passes() -> None:
    p = plans(limit=10)["math"]
    records = []
    for i in range(10):
        right = MATH_PROBLEMS[i].answer
        records.append(rec(p, "candidate", i, f"Answer: {right}"))
        records.append(rec(p, "baseline", i, f"Answer: {right}" if i >= 6 else "no idea"))
    r = judge("math", p.config(), records)
    assert r.paired.significant and not r.paired.candidate_worse and verdict([r]).passed


def _store_run(tmp: Path, records: list[RequestRecord], ps: dict[str, SuitePlan]) -> tuple[Store, int]:
    st = Store(tmp / "dyno.db")
    run = st.start_run(
        kind="verify", prov=RunProvenance(hardware={"cpu_model": "Test CPU"}), method={"sides": {}}
    )
    st.update_run(
        run,
        endpoint="http://cand:1",
        model="m",
        engine_version="0.32.0",
        server_info={
            "candidate": {
                "ref": "http://cand:1",
                "url": "http://cand:1",
                "model": "m",
                "engine_version": "0.32.0",
            },
            "baseline": {"ref": "plain", "url": "http://base:2", "profile": "plain", "model": "m"},
        },
        launch_config={"candidate": None, "baseline": {"recipe": {"flags": ["--enforce-eager"]}}},
    )
    for p in ps.values():
        sid = st.start_scenario(run, p.scenario, p.config())
        mine = [r for r in records if r.scenario == p.scenario]
        for r in mine:
            st.add_request(run, r)
        st.finish_scenario(sid, "complete", [], facts(judge(p.name, p.config(), mine)))
    st.finish_run(run, "complete")
    return st, run


def _all_records(ps: dict[str, SuitePlan]) -> list[RequestRecord]:
    records = lossless_records(ps["lossless"])
    for i in range(5):
        records += [
            rec(ps["math"], s, i, f"Answer: {MATH_PROBLEMS[i].answer}") for s in ("candidate", "baseline")
        ]
    good = ({"id": "x", "name": "get_weather", "arguments": '{"city": "Tokyo"}'},)
    records.append(rec(ps["tools"], "candidate", 0, tool_calls=good))
    records.append(rec(ps["tools"], "baseline", 0, "It is sunny in Tokyo."))
    return records


def test_report_is_rederived_from_the_store(tmp_path: Path) -> None:
    ps = plans()
    st, run = _store_run(tmp_path, _all_records(ps), ps)
    rep = build_verify_report(st, run)
    assert [s.name for s in rep.suites] == ["lossless", "math", "tools"]
    doc = json.loads(to_json(rep))
    assert doc["verdict"] == {
        "passed": False,
        "exit_code": 1,
        "reasons": [rep.verdict.reasons[0]],
        "test": "lossless",
    }
    lossless = doc["suites"]["lossless"]
    assert (lossless["n"], lossless["matches"], lossless["match_rate"], lossless["passed"]) == (
        5,
        3,
        0.6,
        False,
    )
    assert lossless["mismatches"][0]["char_index"] == len("reply 3: the quick ")
    assert doc["suites"]["math"]["mcnemar"]["p_value"] == 1.0
    tools = doc["suites"]["tools"]
    assert tools["candidate_reasons"] == {"ok": 1, "request_failed": 4}  # items 1-4 never ran: not run
    assert tools["items"][0]["baseline"]["reason"] == "no_tool_call"
    assert doc["sides"]["baseline"]["launch_flags"] == ["--enforce-eager"]
    assert doc["sides"]["candidate"]["launch_flags"] is None
    # the facts the runner stored agree with the re-derivation
    stored = {s.name: s.facts for s in st.scenarios(run)}
    assert stored["verify:lossless"]["match_rate"] == lossless["match_rate"]

    md = to_markdown(rep)
    assert "match rate **60.0%** (3/5), bar ≥ 80%: **FAIL**" in md
    assert "diverges at char 19 (word 4)" in md and "**verdict: FAIL" in md
    rows = list(csv.DictReader(io.StringIO(to_csv(rep))))
    assert len(rows) == 15 and rows[3]["candidate"] == "mismatch" and rows[5]["suite"] == "math"

    buf = io.StringIO()
    print_text(rep, Console(file=buf, width=160, color_system=None))
    text = buf.getvalue()
    assert "match rate 60.0% (3/5), bar ≥ 80%: FAIL" in text
    assert "red fox" in text and "brown fox" in text
    assert "exact McNemar p = 1" in text and "significant at 0.05: no" in text
    assert "verdict: FAIL" in text
    st.close()


def test_each_side_is_named_with_its_own_engine(tmp_path: Path) -> None:
    ps = plans()
    st, run = _store_run(tmp_path, _all_records(ps), ps)
    st.update_run(
        run,
        server_info={
            "candidate": {"url": "http://cand:1", "engine": "llama.cpp", "engine_version": "b11434"},
            # a side stored before llama-server support names no engine: it was vLLM
            "baseline": {"url": "http://base:2", "engine_version": "0.32.0"},
        },
    )
    md = to_markdown(build_verify_report(st, run))
    assert "| llama.cpp b11434 |" in md and "| vllm 0.32.0 |" in md and "vllm b11434" not in md
    st.close()


def test_dyno_report_dispatches_verify_runs(dyno_home: Path) -> None:
    ps = plans()
    st, run = _store_run(dyno_home, _all_records(ps), ps)
    want = json.loads(to_json(build_verify_report(st, run)))
    st.close()
    assert Settings.from_env().db_path == dyno_home / "dyno.db"
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "dyno.cli", "report", str(run), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == want
    text = subprocess.run(
        [sys.executable, "-m", "dyno.cli", "report", "last", "--format", "text"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert text.returncode == 0 and "verdict: FAIL" in text.stdout
    # -o writes the file and nothing to stdout (the verify renderer used to print past the path)
    md = dyno_home / "out" / "verify.md"
    to_file = subprocess.run(
        [sys.executable, "-m", "dyno.cli", "report", str(run), "--format", "md", "-o", str(md)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert to_file.returncode == 0, to_file.stderr
    assert f"dyno run {run} · verify" in md.read_text() and "verify" not in to_file.stdout


def test_lossless_set_is_interleaved_in_the_plan() -> None:
    items = plans(limit=6)["lossless"].items
    assert [i["id"] for i in items] == [p.id for p in LOSSLESS_PROMPTS[:6]]
