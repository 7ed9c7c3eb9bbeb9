"""`dyno bench --precision` against the pacing server: a steady server is precise at the first
repeats it makes anyway, the stored run says so, and precision does not change the stored config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dyno.settings import Settings
from dyno.store import Store
from tests.fixtures.pacing import StartPacing


def dyno(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DYNO_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_bench_repeats_until_precise_and_says_so(pacing_server: StartPacing, dyno_home: Path) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.004)
    common = ("bench", srv.url, "--scenario", "decode", "--scenario", "ttft", "--repeat", "3")
    out = dyno(dyno_home, *common, "--precision", "25%", "--max-repeats", "6")
    assert out.returncode == 0, out.stderr
    plain = dyno(dyno_home, *common)
    assert plain.returncode == 0, plain.stderr
    with Store(Settings.from_env().db_path) as store:
        precise, base = (store.list_runs()[1], store.list_runs()[0])
        scen = {s.name: s for s in store.scenarios(precise.id)}
        plain_scen = {s.name: s for s in store.scenarios(base.id)}
        decode = [r for r in store.requests(precise.id) if r.scenario == "decode" and r.label != "warmup"]
    got = scen["decode"].facts["precision"]
    assert [p["label"] for p in got] == ["128"] and all(p["asked"] == 0.25 for p in got)
    # Each repeat that was made is stored, and the loop stopped when the asked precision held.
    for p in got:
        assert 3 <= p["n"] <= 6 and p["n"] == len(decode)
        assert p["reached"] == (p["half_width"] is not None and p["half_width"] <= 0.25)
    assert any("decode tok/s" in n and "(95%)" in n for n in scen["decode"].notes)
    assert "precision" in scen["ttft"].facts
    # How long to repeat is not what was measured: the two runs compare like for like.
    assert scen["decode"].config == plain_scen["decode"].config and "precision" not in scen["decode"].config
    assert "precision" not in plain_scen["decode"].facts


def test_precision_with_load_knobs_is_a_usage_error(pacing_server: StartPacing, dyno_home: Path) -> None:
    srv = pacing_server(ttft_s=0.01, itl_s=0.001)
    out = dyno(dyno_home, "bench", srv.url, "--requests", "4", "--precision", "5%")
    assert out.returncode == 2 and "--precision repeats decode and ttft" in " ".join(out.stderr.split())


def test_a_tunes_objective_repeats_until_precise_or_says_it_fell_short(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    # The objective tune --precision measures: one value per repeat (all content types), repeated
    # until the mean's interval is within the asked share, else up to --max-repeats and said so.
    from dyno.bench.runner import run_bench
    from dyno.bench.scenarios.objective import Objective, repeat_values
    from dyno.engine.target import TargetSpec

    srv = pacing_server(ttft_s=0.005, itl_s=0.002)
    s = Settings.from_env()
    loose = Objective(contents=("prose",), repeats=3, max_tokens=16, precision=0.5, max_repeats=6)
    tight = Objective(contents=("prose", "code"), repeats=3, max_tokens=16, precision=1e-9, max_repeats=5)
    with Store(s.db_path) as store:
        a = run_bench(s, store, [loose], TargetSpec(srv.url))
        b = run_bench(s, store, [tight], TargetSpec(srv.url))
        got = {rid: store.scenarios(rid)[0] for rid in (a.run_id, b.run_id)}
        samples = {
            rid: repeat_values(store.requests(rid, "objective"), 1, n)
            for rid, n in ((a.run_id, 1), (b.run_id, 2))
        }
    (reached,) = got[a.run_id].facts["precision"]
    assert (
        reached["reached"] and reached["n"] == 3 and len(samples[a.run_id]) == 3
    )  # steady: the first three do
    (short,) = got[b.run_id].facts["precision"]
    assert not short["reached"] and short["n"] == 5 and len(samples[b.run_id]) == 5  # every repeat stored
    assert any("short of the asked" in n for n in got[b.run_id].notes)
    # how long to repeat is not what was measured: left out of the config runs are compared by
    assert not {"precision", "max_repeats"} & set(got[a.run_id].config)
    assert got[a.run_id].config["repeats"] == 3
