"""dyno tune's parts that need no engine: sweeps, the k prediction, scoring with ties, the search, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dyno.errors import UsageError
from dyno.store import Store, TrialRow
from dyno.tune.physics import SpecObservation, calibrate, draft_fraction, expected_tokens
from dyno.tune.runner import replay
from dyno.tune.score import Score, score, winner
from dyno.tune.search import Planner, Result, default_budget
from dyno.tune.space import Candidate, flags_for, grid, parse_sweep, without_spec


def test_sweeps_parse_lists_and_ranges_and_refuse_nonsense() -> None:
    assert parse_sweep("num_speculative_tokens=0..3").values == (0, 1, 2, 3)
    assert parse_sweep("--max-num-seqs=4,8,16").name == "max_num_seqs"
    assert parse_sweep("kv_cache_dtype=auto,fp8").values == ("auto", "fp8")
    for bad in ("k", "x=", "num_speculative_tokens=-1,2", "a=1,1", "n=5..2"):
        with pytest.raises(UsageError):
            parse_sweep(bad)


def test_the_grid_folds_spec_keys_when_speculation_is_off_and_flags_follow() -> None:
    cands = grid([parse_sweep("num_speculative_tokens=0,2"), parse_sweep("prompt_lookup_max=2,3")])
    assert [c.label() for c in cands] == [
        "num_speculative_tokens=0",
        "num_speculative_tokens=2, prompt_lookup_max=2",
        "num_speculative_tokens=2, prompt_lookup_max=3",
    ]
    assert flags_for(cands[0], ()) == ()  # k=0: no speculative config at all
    flags = flags_for(cands[2], ())
    assert flags[0] == "--speculative-config"
    assert json.loads(flags[1]) == {"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_max": 3}
    assert flags_for(Candidate((("max_num_seqs", 8),)), ()) == ("--max-num-seqs", "8")
    assert without_spec(("--a", "--speculative-config", "{}", "--b")) == ("--a", "--b")


def test_the_k_prediction_from_per_position_acceptance() -> None:
    rates = (0.8, 0.6, 0.4, 0.25)  # P(position i accepted), decaying as the rule says it must
    assert expected_tokens(rates, 2) == pytest.approx(2.4)
    assert draft_fraction(drafts=100, generated_tokens=500, accepted_tokens=150) == pytest.approx(100 / 350)
    # A made-up truth: t0 = 10 ms a step, 2 ms per drafted position, every step drafts.
    t0, c = 0.010, 0.002

    def true_tok_s(k: int) -> float:
        return expected_tokens(rates, k) / (t0 + c * k) if k else 1 / t0

    curve = calibrate(true_tok_s(0), SpecObservation(4, true_tok_s(4), rates, 1.0))
    for k in range(5):
        assert curve.tok_s(k) == pytest.approx(true_tok_s(k))  # two points recover the whole curve
    assert curve.best([0, 1, 2, 3, 4]) == max(range(5), key=true_tok_s)


def test_score_is_median_minus_scaled_mad_and_ties_go_to_the_simpler() -> None:
    s = score([100.0, 102.0, 98.0])
    assert (s.median, s.mad, s.value) == (100.0, 2.0, pytest.approx(100 - 1.4826 * 2))
    assert score([100.0, 120.0, 80.0]).noisy and not s.noisy
    k0, k2, k4 = (Candidate(((("num_speculative_tokens", k)),)) for k in (0, 2, 4))
    scored = [(k4, Score(100.0, 0.0, 3)), (k2, Score(99.5, 0.0, 3)), (k0, Score(60.0, 0.0, 3))]
    best, tied = winner(scored, lambda c: c.simplicity())
    assert best == k2 and tied == [k4]  # within 1%: the smaller k wins
    noisy = [(k4, Score(150.0, 40.0, 3)), (k2, Score(99.5, 0.0, 3))]
    assert winner(noisy, lambda c: c.simplicity())[0] == k2  # a noisy candidate does not rank


def _spec(k: int, tok_s: float) -> SpecObservation:
    return SpecObservation(k, tok_s, (0.8, 0.6, 0.4, 0.25, 0.1, 0.05), 1.0)


def test_the_search_measures_both_ends_then_the_predicted_best() -> None:
    knobs = [parse_sweep("num_speculative_tokens=0..6")]
    cands = grid(knobs)
    p = Planner(cands, knobs, budget=default_budget(len(cands), True, 1), baseline=cands[0])
    done: dict[Candidate, Result] = {}
    first = p.next(done)
    assert first is not None and first.k == 0
    done[first] = Result(Score(100.0, 0.0, 3))
    second = p.next(done)
    assert second is not None and second.k == 6
    done[second] = Result(Score(140.0, 0.0, 3), _spec(6, 140.0))
    third = p.next(done)
    curve = p.curves(done)[()]
    assert third is not None and third.k == curve.best(list(range(1, 7)))
    done[third] = Result(Score(curve.tok_s(third.k or 0), 0.0, 3), None)
    assert p.next(done) is None  # three trials where the grid takes seven
    assert len(p.chosen_by_search) == 3


@pytest.mark.parametrize(("n", "budget"), [(25, 8), (24, 8), (12, 4), (7, 3), (4, 3)])
def test_the_default_budget_is_at_most_a_third_of_the_grid(n: int, budget: int) -> None:
    assert default_budget(n, True, 2) == budget
    assert default_budget(n, True, 2) <= max(3, n / 3)


def test_resuming_skips_the_trials_already_stored(tmp_path: Path) -> None:
    knobs = [parse_sweep("num_speculative_tokens=0,2,4")]
    cands = grid(knobs)
    with Store(tmp_path / "x.db") as st:
        run = st.start_run(kind="tune", method={"options": {"sweeps": ["num_speculative_tokens=0,2,4"]}})
        st.add_trial(
            run, TrialRow([["num_speculative_tokens", 0]], "measured", True, samples=[50.0, 51.0, 49.0])
        )
        st.add_trial(
            run, TrialRow([["num_speculative_tokens", 4]], "failed", True, note="the engine did not start")
        )
        stored = st.trials(run)
    p = Planner(cands, knobs, budget=3, exhaustive=True, baseline=cands[0])
    done = replay(p, stored)  # what run_tune does with the stored trials on --resume
    assert set(done) == {cands[0], cands[2]} and p.chosen_by_search == [cands[0], cands[2]]
    assert done[cands[0]].usable and not done[cands[2]].usable
    assert done[cands[0]].score is not None and done[cands[0]].score.median == 50.0
    nxt = p.next(done)
    assert nxt is not None and nxt not in done and nxt.k == 2
    assert stored[1].note == "the engine did not start" and stored[0].samples == [50.0, 51.0, 49.0]
