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
