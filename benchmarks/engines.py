"""The same model on two engines: SmolLM2-135M-Instruct on vLLM (bf16) and on llama-server (Q4_1).

The field's "same model, different runtime" table, produced by dyno itself: for each
built-in profile, `dyno bench PROFILE --suite quick --concurrency 1,4,8 --repeat N`
(decode, TTFT, concurrency; each engine started, measured and stopped in turn, in
one fresh DYNO_HOME), then `dyno compare` of the two runs, vLLM as the baseline.
Prints the compare table; asserts nothing. Takes ~2 min on 2 cores (model
conversion for vLLM included on a fresh home).

    .venv/bin/python benchmarks/engines.py [--repeat 3] [--format text|md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROFILES = ("smollm2", "smollm2-llama")


def dyno(home: Path, *args: str) -> str:
    env = {**os.environ, "DYNO_HOME": str(home), "COLUMNS": "160"}
    out = subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"dyno {' '.join(args)} failed ({out.returncode}):\n{out.stderr}\n{out.stdout[-2000:]}")
    return out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--format", choices=("text", "md"), default="text")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dyno-engines-") as tmp:
        home = Path(tmp)
        for profile in PROFILES:
            t0 = time.monotonic()
            dyno(
                home,
                "bench",
                profile,
                "--suite",
                "quick",
                "--concurrency",
                "1,4,8",
                "--repeat",
                str(args.repeat),
            )
            print(f"{profile}: benched in {time.monotonic() - t0:.0f} s", file=sys.stderr)
        print(dyno(home, "compare", "1", "2", "--format", args.format))


if __name__ == "__main__":
    main()
