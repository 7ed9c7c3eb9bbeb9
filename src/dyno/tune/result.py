"""A tune's result, read back from its trials: the winner, its margin and the baseline it beat.

This is where a tune's figures are decided (`dyno tune` exits on them, keeps
the winner as a profile, and report/tune.py only renders them): the winner is
the best score (median - 1.4826 x MAD) among candidates that were measured and
kept the baseline's answers, the simpler one on a tie; the baseline is the
candidate without speculation (k=0), else the sweep's first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dyno.bench.stats import RatioCI, ratio_ci
from dyno.store import RunRow, Store, TrialRow, load_run
from dyno.tune.score import Score, score, winner
from dyno.tune.space import Candidate, baseline_of
from dyno.verify.evaluate import LosslessResult
from dyno.verify.summary import build_verify_report


@dataclass(frozen=True)
class TrialView:
    candidate: Candidate
    row: TrialRow
    lossless: str  # "40/40" or "-": greedy answers identical to the baseline's
    gate: str  # the test the answers faced: "lossless", "not worse" (a numerics change) or "-"

    @property
    def score(self) -> Score | None:
        return score(self.row.samples) if self.row.samples else None


@dataclass(frozen=True)
class TuneSummary:
    run: RunRow
    options: dict[str, Any]
    trials: list[TrialView]
    baseline: TrialView | None
    winner: TrialView | None
    tied: list[TrialView]
    runner_up: TrialView | None
    vs_baseline: RatioCI | None
    vs_runner_up: RatioCI | None
    exhaustive_fraction: float | None  # the search's pick's score / the best of all (with --exhaustive)
    search_trials: int

    @property
    def contents(self) -> list[str]:
        return list(self.options.get("contents") or [])


def _answers(store: Store, run_id: int | None) -> tuple[str, str]:
    """The identical-answer count (with FAIL when the gate rejected) and the test it faced."""
    if run_id is None:
        return "-", "-"
    rep = build_verify_report(store, run_id)
    res = next((s.result for s in rep.suites if s.name == "lossless"), None)
    fail = "" if rep.verdict.passed else " FAIL"
    gate = "not worse" if rep.test == "quality" else "lossless"
    if isinstance(res, LosslessResult):
        return f"{res.matches}/{res.n}{fail}", gate
    return ("pass" if rep.verdict.passed else "FAIL"), gate


def pick(views: list[TrialView]) -> tuple[TrialView | None, list[TrialView]]:
    scored = [(v, s) for v in views if v.row.status == "measured" and (s := v.score) is not None]
    if not scored:
        return None, []
    return winner(scored, lambda v: v.candidate.simplicity())


def summarize_tune(store: Store, run_id: int) -> TuneSummary:
    run = load_run(store, run_id, "tune")
    options = (run.method or {}).get("options") or {}
    views = [
        TrialView(Candidate(tuple((str(k), v) for k, v in t.candidate)), t, *_answers(store, t.verify_run_id))
        for t in store.trials(run_id)
    ]
    base_c = baseline_of([v.candidate for v in views]) if views else None
    base = next((v for v in views if v.candidate == base_c), None)
    best, tied = pick(views)
    others = [v for v in views if v is not best and v.row.status == "measured" and v.score is not None]
    runner_up = max(others, key=lambda v: v.score.value if v.score else 0.0, default=None)
    vs_base = vs_next = None
    if best is not None and best.row.samples:
        if base is not None and base is not best and base.row.samples:
            vs_base = ratio_ci(best.row.samples, base.row.samples, "median")
        if runner_up is not None and runner_up.row.samples:
            vs_next = ratio_ci(best.row.samples, runner_up.row.samples, "median")
    fraction = None
    searched = [v for v in views if v.row.by_search]
    if options.get("exhaustive") and best is not None and best.score:
        chosen, _ = pick(searched)
        if chosen is not None and chosen.score and best.score.value:
            fraction = chosen.score.value / best.score.value
    return TuneSummary(
        run, options, views, base, best, tied, runner_up, vs_base, vs_next, fraction, len(searched)
    )
