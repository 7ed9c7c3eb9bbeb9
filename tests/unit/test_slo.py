"""Per-request SLOs: which requests conform, attainment with its Wilson interval, goodput."""

from __future__ import annotations

import pytest

from dyno.bench.slo import SLO, attainment, difference, wilson
from dyno.client.records import Chunk, RequestRecord
from dyno.errors import UsageError

MS = 1_000_000


def req(
    ttft_ms: float,
    gap_ms: float,
    tokens: int = 11,
    *,
    intended_ms: float | None = None,
    error: str | None = None,
) -> RequestRecord:
    """Sent at 0 (meant to leave at -intended_ms); first token at ttft_ms, one token per gap after."""
    first = int(ttft_ms * MS)
    chunks = tuple(Chunk(first + int(i * gap_ms * MS), "content", 1) for i in range(tokens))
    return RequestRecord(
        params={},
        t_sent_ns=0,
        t_intended_ns=None if intended_ms is None else -int(intended_ms * MS),
        t_first_content_ns=first if error is None else None,
        t_end_ns=chunks[-1].t_ns if error is None else None,
        chunks=chunks if error is None else (),
        output_tokens=tokens if error is None else None,
        error_kind=error,
    )


def test_a_request_conforms_only_when_it_meets_every_objective() -> None:
    slo = SLO.parse(["ttft_ms<=500", "tpot_ms<=50"])
    assert slo is not None
    assert slo.conforms(req(400, 40))
    assert not slo.conforms(req(600, 40))  # first token too late
    assert not slo.conforms(req(400, 60))  # tokens too slow
    assert slo.missed(req(600, 60)) == ["ttft_ms", "tpot_ms"]


def test_a_failed_request_counts_against() -> None:
    slo = SLO.parse(["ttft_ms<=500"])
    assert slo is not None
    failed = req(0, 0, error="http_5xx")
    assert not slo.conforms(failed)
    assert slo.missed(failed) == ["error"]


def test_ttft_counts_from_when_the_load_meant_the_request_to_leave() -> None:
    """A request the client held back 300 ms answers in 400 ms after it was sent: the user waited 700."""
    slo = SLO.parse(["ttft_ms<=500"])
    assert slo is not None
    assert slo.conforms(req(400, 10))
    assert not slo.conforms(req(400, 10, intended_ms=300))


def test_one_token_has_no_gaps_to_be_slow() -> None:
    slo = SLO.parse(["tpot_ms<=1", "decode_tok_s>=1000"])
    assert slo is not None
    assert slo.conforms(req(10, 10, tokens=1))
    assert not slo.conforms(req(10, 10, tokens=3))


def test_decode_speed_is_a_floor_and_e2e_a_ceiling() -> None:
    slo = SLO.parse(["decode_tok_s>=20,e2e_ms<=1000"])  # a comma list in one --slo
    assert slo is not None and slo.specs() == ["decode_tok_s>=20", "e2e_ms<=1000"]
    assert slo.conforms(req(100, 40))  # 25 tok/s, ends at 500 ms
    assert not slo.conforms(req(100, 60))  # 16.7 tok/s
    assert not slo.conforms(req(700, 40))  # ends at 1100 ms


@pytest.mark.parametrize(
    "bad",
    [
        "ttft<=500",
        "ttft_ms<500",
        "ttft_ms>=500",
        "decode_tok_s<=20",
        "ttft_ms<=abc",
        "ttft_ms<=0",
        "ttft_ms<=nan",
    ],
)
def test_a_malformed_objective_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="--slo"):
        SLO.parse([bad])


def test_the_same_objective_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="twice"):
        SLO.parse(["ttft_ms<=500", "ttft_ms<=400"])


def test_no_slo_given_is_none() -> None:
    assert SLO.parse(None) is None and SLO.parse([]) is None


def test_wilson_matches_the_textbook_values() -> None:
    # Agresti & Coull (1998) style check: 20 of 20 is not [1, 1]; 0 of 10 is not [0, 0].
    low, high = wilson(20, 20)
    assert low == pytest.approx(0.8389, abs=1e-4) and high == pytest.approx(1.0)
    low, high = wilson(0, 10)
    assert low == pytest.approx(0.0) and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(81, 263)  # Newcombe (1998), method 3: 0.2553 to 0.3662
    assert (low, high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))


def test_attainment_counts_errors_against_and_reports_what_was_excluded() -> None:
    slo = SLO.parse(["ttft_ms<=500"])
    assert slo is not None
    judged = [req(100, 10)] * 7 + [req(900, 10)] * 2 + [req(0, 0, error="timeout")]
    a = attainment(slo, judged, excluded=3, window_s=2.0)
    assert (a.counted, a.conforming, a.errored, a.excluded) == (10, 7, 1, 3)
    assert a.rate == pytest.approx(0.7)
    assert a.low < 0.7 < a.high
    assert a.goodput_req_s == pytest.approx(3.5)  # 7 conforming in 2 s
    assert a.goodput_tok_s == pytest.approx(7 * 11 / 2)
    assert a.missed == {"ttft_ms": 2, "error": 1}
    assert "outside the steady window" in a.text()


def test_the_difference_of_two_attainments_matches_newcombes_worked_example() -> None:
    # Newcombe (1998), Table II, example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339.
    d = difference(56, 70, 48, 80)
    assert d is not None
    assert d.diff == pytest.approx(0.2)
    assert (d.low, d.high) == (pytest.approx(0.0524, abs=1e-4), pytest.approx(0.3339, abs=1e-4))
    assert not d.within_noise
    same = difference(19, 20, 18, 20)
    assert same is not None and same.within_noise and "≈ noise" in same.text()
    assert difference(1, 0, 1, 1) is None
