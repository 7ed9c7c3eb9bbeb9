"""The capacity search's decisions on scripted probe outcomes, the limit it names, and the knee."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dyno.capacity.knee import find_knee
from dyno.capacity.limit import LevelEvidence, name_limit
from dyno.capacity.search import ProbeVerdict, answer, next_level
from dyno.metrics.series import Series


def search(
    truth: Callable[[int], ProbeVerdict], max_level: int = 64, start: int = 1
) -> tuple[list[int], dict[int, ProbeVerdict]]:
    seen: dict[int, ProbeVerdict] = {}
    order = []
    while (lv := next_level(seen, max_level, start)) is not None:
        assert lv not in seen, f"probed {lv} twice"
        order.append(lv)
        seen[lv] = truth(lv)
    return order, seen


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7, 12, 13, 31, 33, 63])
def test_a_monotone_server_is_found_exactly_with_doubling_then_bisection(k: int) -> None:
    order, seen = search(lambda lv: "pass" if lv <= k else "fail")
    a = answer(seen, 64)
    assert a.capacity == k and a.above == k + 1 and a.resolved and not a.at_max
    assert len(order) <= 2 * 6 + 1  # log2(64) doublings, then as many halvings


def test_the_documented_order_for_seven() -> None:
    order, _ = search(lambda lv: "pass" if lv <= 7 else "fail")
    assert order == [1, 2, 4, 8, 6, 7]


def test_every_level_passing_is_at_least_the_maximum() -> None:
    order, seen = search(lambda lv: "pass", max_level=12)
    a = answer(seen, 12)
    assert order == [1, 2, 4, 8, 12]
    assert a.capacity == 12 and a.at_max and a.resolved
    assert "at least 12" in a.explained


def test_not_even_one_stream() -> None:
    order, seen = search(lambda lv: "fail")
    a = answer(seen, 64)
    assert order == [1] and a.capacity == 0 and a.resolved


def test_an_indeterminate_level_is_never_a_bound() -> None:
    # 1..5 pass, 6 straddles the target, 7+ fail: the answer is 5 and unresolved, not "5, resolved".
    truth = {6: "indeterminate"}
    _order, seen = search(lambda lv: truth.get(lv, "pass" if lv <= 5 else "fail"))  # type: ignore[arg-type]
    a = answer(seen, 64)
    assert a.capacity == 5 and a.above == 6 and not a.resolved
    assert "indeterminate" in a.explained


def test_a_client_bound_level_ends_the_search_unresolved() -> None:
    _order, seen = search(lambda lv: "pass" if lv < 16 else "client_bound")
    a = answer(seen, 64)
    assert a.capacity == 15 and not a.resolved and "client-bound" in a.explained


def test_a_start_above_one_halves_down_when_it_fails() -> None:
    order, seen = search(lambda lv: "pass" if lv <= 2 else "fail", start=8)
    assert order[0] == 8 and answer(seen, 64).capacity == 2


def ev(level: int, verdict: str = "fail", *, missed: dict[str, int] | None = None, ttft: float | None = 100.0,
       tpot: float | None = 10.0, series: Series | None = None, judged: int = 20) -> LevelEvidence:  # fmt: skip
    return LevelEvidence(level, verdict, judged, missed or {"ttft_ms": 10}, ttft, tpot, series or Series())


def series(
    running: list[float], waiting: list[float], kv: float | None = None, preempt: tuple[float, float] = (0, 0)
) -> Series:
    s = Series()
    s.t_s = [float(i) for i in range(len(running))]
    s.running = list(running)
    s.waiting = list(waiting)
    s.kv_usage = [kv] * len(running)
    s.preemptions = [preempt[0]] + [preempt[1]] * (len(running) - 1)
    return s


def test_the_limit_is_a_queue_when_the_server_runs_fewer_than_are_in_flight() -> None:
    lim = name_limit(ev(4, series=series([0, 3, 3], [0, 1, 1])), ev(3, "pass", ttft=20))
    assert lim.kind == "queue"
    assert "at most 3 at once" in lim.sentence and "up to 1 waited" in lim.sentence


def test_the_limit_is_the_batch_when_every_stream_slows() -> None:
    lim = name_limit(
        ev(7, missed={"tpot_ms": 30}, tpot=16.0, series=series([7, 7], [0, 0])), ev(6, "pass", tpot=14.0)
    )
    assert lim.kind == "batch" and "TPOT p50 16 ms at 7 vs 14 ms at 6" in lim.sentence


def test_the_limit_is_the_kv_cache_when_the_engine_preempts() -> None:
    lim = name_limit(ev(16, series=series([16, 12], [0, 4], kv=0.99, preempt=(3, 9))), ev(8, "pass"))
    assert lim.kind == "kv_cache" and "6 preemptions" in lim.sentence


def test_errors_client_and_no_metrics() -> None:
    assert name_limit(ev(8, missed={"error": 15}, judged=20), None).kind == "errors"
    assert name_limit(ev(8, "client_bound"), ev(4, "pass")).kind == "client"
    blind = name_limit(ev(8), ev(4, "pass"))
    assert blind.kind == "slo" and "no /metrics" in blind.sentence
    assert name_limit(None, ev(4, "pass")).kind == "none"


def test_an_idle_sample_is_no_evidence_of_a_queue() -> None:
    assert name_limit(ev(6, series=series([0], [0])), ev(5, "pass")).kind == "slo"


def test_the_knee_is_where_throughput_flattens() -> None:
    curve = [(1, 100.0), (2, 200.0), (4, 390.0), (8, 410.0), (16, 415.0), (32, 418.0)]
    knee = find_knee(curve)
    assert knee is not None and knee.level == 4


def test_no_knee_while_throughput_still_climbs_or_from_too_few_levels() -> None:
    assert find_knee([(1, 100.0), (2, 200.0), (4, 400.0), (8, 800.0), (16, 1500.0)]) is None
    assert find_knee([(1, 100.0), (2, 200.0), (4, 210.0)]) is None
    assert find_knee([(1, 100.0), (2, 200.0), (4, 210.0), (8, 212.0)], force=True) is not None
