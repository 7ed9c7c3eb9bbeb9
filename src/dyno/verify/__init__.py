"""Quality A/B between two endpoints or configs: did a faster config change the answers?

suites.py      what each suite sends (bundled sets in dyno.workloads.verify_sets)
runner.py      resolve both sides (URL or profile), send, store raw
evaluate.py    judge a suite from its stored rows; the pass/fail verdict
divergence.py  where two greedy outputs part ways
answers.py     the numeric answer in a word-problem reply
toolcheck.py   tool-call validity: right function, parsable, schema-valid
stats.py       the exact McNemar test on paired outcomes
"""

from dyno.verify.evaluate import MATCH_RATE_BAR, Verdict, judge, verdict
from dyno.verify.runner import VerifyOptions, VerifyResult, run_verify
from dyno.verify.stats import mcnemar_exact_p, paired_outcome
from dyno.verify.suites import SUITE_NAMES, parse_suites

__all__ = [
    "MATCH_RATE_BAR",
    "SUITE_NAMES",
    "Verdict",
    "VerifyOptions",
    "VerifyResult",
    "judge",
    "mcnemar_exact_p",
    "paired_outcome",
    "parse_suites",
    "run_verify",
    "verdict",
]
