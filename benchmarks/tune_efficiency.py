"""How many trials dyno's tune search needs, and how close it gets to the best of an exhaustive sweep.

On the embedded engine (vLLM CPU, SmolLM2-135M-Instruct) with ngram speculation:
  (a) num_speculative_tokens = 0..6 at prompt_lookup_max = 4
  (b) num_speculative_tokens = 0..6 x prompt_lookup_max = 2..5
Each runs as `dyno tune smollm2 --sweep ... --exhaustive`: the search's own
picks first (marked), then every other candidate, so one run gives both the
search's choice and the exhaustive best under the same conditions. Prints,
for each: candidates, trials the search used, the search's choice and the
exhaustive best with their scores, the fraction, and per candidate the physics
prediction next to the measurement. Goal (the issue's): within 5% of the
exhaustive best using at most a third of the trials (for (a), at most 3).
Prints figures; asserts nothing. Takes ~5 min for (a), ~20 min for (b), on 2 cores.

    .venv/bin/python benchmarks/tune_efficiency.py [--only a|b] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from dyno.report.tune import build_tune_report, pick  # noqa: E402
from dyno.store import Store  # noqa: E402

SWEEPS = {
    "a": ["num_speculative_tokens=0..6", "prompt_lookup_max=4"],
    "b": ["num_speculative_tokens=0..6", "prompt_lookup_max=2..5"],
}


def run(which: str, home: Path, repeats: int) -> None:
    args = [a for s in SWEEPS[which] for a in ("--sweep", s)]
    cmd = [str(Path(sys.executable).parent / "dyno"), "tune", "smollm2", *args, "--exhaustive"]
    cmd += ["--repeats", str(repeats), "--name", f"tuned-{which}"]
    t0 = time.monotonic()
    out = subprocess.run(
        cmd, env={**os.environ, "DYNO_HOME": str(home), "COLUMNS": "220"}, capture_output=True, text=True
    )
    wall = time.monotonic() - t0
    if out.returncode not in (0, 1):
        print(out.stderr[-2000:])
        return
    with Store(home / "dyno.db") as store:
        rid = store.list_runs(kind="tune")[0].id
        rep = build_tune_report(store, rid)
    best = rep.winner
    searched = [v for v in rep.trials if v.row.by_search]
    chosen, _ = pick(searched)
    what = " x ".join(SWEEPS[which])
    print(f"\n({which}) {what}: {len(rep.trials)} candidates, tune run {rid}, {wall / 60:.1f} min")
    print(f"  search: {len(searched)} trials ({len(searched) / len(rep.trials):.0%} of the grid)")
    if best and chosen and best.score and chosen.score:
        print(f"  exhaustive best: {best.candidate.label()}  score {best.score.value:.1f}")
        print(f"  search's choice: {chosen.candidate.label()}  score {chosen.score.value:.1f}")
        print(f"  fraction of the best: {chosen.score.value / best.score.value:.1%}")
    print(f"  {'candidate':44} {'searched':>8} {'predicted':>9} {'measured':>9} {'status':>10}")
    for v in rep.trials:
        pred = f"{v.row.predicted:.1f}" if v.row.predicted is not None else "-"
        med = f"{v.row.median:.1f}" if v.row.median is not None else "-"
        searched_mark = "yes" if v.row.by_search else ""
        print(f"  {v.candidate.label():44} {searched_mark:>8} {pred:>9} {med:>9} {v.row.status:>10}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("a", "b"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--home", type=Path, help="DYNO_HOME to use (default: a new temp folder)")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="dyno-tune-eff-"))
    for which in (args.only,) if args.only else ("a", "b"):
        run(which, home, args.repeats)


if __name__ == "__main__":
    main()
