"""Which candidate to measure next: physics where there is some, Optuna's TPE for the rest.

- Draft length k (with speculation off in the sweep): measure k=0 and the
  largest k, calibrate the k-curve (tune/physics.py), then measure the
  predicted best; stop once it is measured (and, budget allowing, its
  better-predicted neighbour). For 0..6 that is three trials where a grid
  takes seven.
- Several knobs: the same physics per combination of the other knobs where
  the sweep has k (the baseline once, then the largest k for each
  combination, then the predicted bests, best first), and Optuna's TPE sampler
  (seeded) for whatever budget is left, told every result so far.
- Exhaustive: every candidate, in a seeded shuffled order after the
  baseline, so drift (heat, page cache) does not look like a trend along the
  sweep. With --exhaustive the search's own picks come first and are marked,
  so a tune can say how close the search got to the best of all.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from dyno.tune.physics import KCurve, SpecObservation, calibrate
from dyno.tune.score import Score
from dyno.tune.space import Candidate, K, Knob


@dataclass(frozen=True)
class Result:
    """What a finished trial told the search."""

    score: Score | None  # None: refused, failed, or rejected before it was scored
    spec: SpecObservation | None = None  # acceptance at this candidate's k, when it drafted
    usable: bool = True  # False: answers changed, engine failed, lint refused


def default_budget(n_candidates: int, has_k: bool, n_knobs: int) -> int:
    """At most a third of the grid (at least 3): the goal the tune benchmark holds the search to.

    Rounded down: 25 candidates get 8 trials, not 9 (9 is 36% of the grid).
    """
    if has_k and n_knobs == 1:
        return 3
    return max(3, n_candidates // 3)


@dataclass
class Planner:
    candidates: list[Candidate]
    knobs: list[Knob]
    budget: int
    seed: int = 0
    exhaustive: bool = False
    baseline: Candidate | None = None  # measured first: every other candidate is gated against it
    chosen_by_search: list[Candidate] = field(default_factory=list)
    _study: Any = None

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        base = [c for c in self.candidates if c.k == 0]
        rest = [c for c in self.candidates if c.k != 0]
        rng.shuffle(rest)
        self._shuffled = base + rest

    @property
    def has_k(self) -> bool:
        return any(k.name == K and 0 in k.values for k in self.knobs)

    def _others(self, c: Candidate) -> tuple[tuple[str, Any], ...]:
        return tuple((n, v) for n, v in c.values if n != K)

    def curves(self, done: dict[Candidate, Result]) -> dict[tuple[tuple[str, Any], ...], KCurve]:
        """One calibrated k-curve per combination of the other knobs that has both points measured."""
        base = next((r for c, r in done.items() if c.k == 0 and r.score is not None), None)
        if base is None or base.score is None:
            return {}
        out = {}
        for c, r in done.items():
            if not c.speculative or r.score is None or r.spec is None:
                continue
            group = self._others(c)
            kmax = max(x.k or 0 for x in self.candidates if self._others(x) == group)
            if c.k == kmax:
                out[group] = calibrate(base.score.median, r.spec)
        return out

    def predicted(self, c: Candidate, done: dict[Candidate, Result]) -> float | None:
        if c.k is None:
            return None
        curve = self.curves(done).get(self._others(c)) if c.k > 0 else None
        if c.k == 0:
            base = next((r for x, r in done.items() if x.k == 0 and r.score is not None), None)
            return base.score.median if base and base.score else None
        return curve.tok_s(c.k) if curve else None

    def _physics_next(self, done: dict[Candidate, Result]) -> Candidate | None:
        todo = [c for c in self.candidates if c not in done]
        base = next((c for c in todo if c.k == 0), None)
        if base is not None:
            return base
        groups: dict[tuple[tuple[str, Any], ...], list[Candidate]] = {}
        for c in self.candidates:
            if c.speculative:
                groups.setdefault(self._others(c), []).append(c)
        for members in groups.values():  # the largest k of each group calibrates it
            top = max(members, key=lambda c: c.k or 0)
            if top not in done:
                return top
        ranked = sorted(
            (c for c in todo if c.speculative and self.predicted(c, done) is not None),
            key=lambda c: -(self.predicted(c, done) or 0.0),
        )
        measured_best = max(
            (self.predicted(c, done) or 0.0 for c in done if done[c].usable and c.speculative), default=0.0
        )
        if ranked and (self.predicted(ranked[0], done) or 0.0) > measured_best * 0.99:
            return ranked[0]  # the curve says something unmeasured beats what is measured
        return None

    def _tpe_next(self, done: dict[Candidate, Result]) -> Candidate | None:
        import optuna  # seconds to import: only when the sweep needs it

        optuna.logging.set_verbosity(logging.WARNING)
        if self._study is None:
            sampler = optuna.samplers.TPESampler(seed=self.seed)
            self._study = optuna.create_study(direction="maximize", sampler=sampler)
        dists: dict[str, optuna.distributions.BaseDistribution] = {
            k.name: optuna.distributions.CategoricalDistribution(list(k.values)) for k in self.knobs
        }
        known = {(t.params and tuple(sorted(t.params.items()))) for t in self._study.trials}
        for c, r in done.items():  # tell the sampler everything measured so far
            params = {n: v for n, v in c.values}
            full = {k.name: params.get(k.name, k.values[0]) for k in self.knobs}
            key = tuple(sorted(full.items()))
            if key in known:
                continue
            value = r.score.value if r.score is not None else None
            state = optuna.trial.TrialState.COMPLETE if value is not None else optuna.trial.TrialState.FAIL
            self._study.add_trial(
                optuna.trial.create_trial(params=full, distributions=dists, value=value, state=state)
            )
        todo = {tuple(sorted(c.as_dict.items())): c for c in self.candidates if c not in done}
        for _ in range(64):  # TPE may suggest a point already measured: ask again
            trial = self._study.ask(dists)
            params = trial.params
            cand = next(
                (c for key, c in todo.items() if all(params.get(n) == v for n, v in key)),
                None,
            )
            self._study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            if cand is not None:
                return cand
        return next(iter(todo.values()), None)

    def next(self, done: dict[Candidate, Result]) -> Candidate | None:
        """The next candidate to measure, or None when the search is done."""
        if self.baseline is not None and self.baseline not in done:
            if self.baseline not in self.chosen_by_search:
                self.chosen_by_search.append(self.baseline)
            return self.baseline
        searched = [c for c in self.chosen_by_search if c in done]
        if len(searched) < self.budget:
            pick = self._physics_next(done) if self.has_k else None
            # Physics is the whole search for a sweep of k alone (other knobs held at one value);
            # with other knobs that vary, TPE takes over where physics stops.
            k_alone = self.has_k and all(len(k.values) == 1 for k in self.knobs if k.name != K)
            if pick is None and not k_alone and len(done) < len(self.candidates):
                pick = self._tpe_next(done)
            if pick is not None and pick not in done:
                self.chosen_by_search.append(pick)
                return pick
        if self.exhaustive:
            return next((c for c in self._shuffled if c not in done), None)
        return None
