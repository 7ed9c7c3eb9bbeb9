"""Per-request figures from hand-made timestamp records.

Times are written in milliseconds (MS nanoseconds each) so the expected figures
can be worked out by hand; each expected value is a literal, not a call to the
code under test.
"""

from __future__ import annotations

import pytest

from dyno.client import derive
from dyno.client.records import Chunk, ChunkKind, RequestRecord

MS = 1_000_000


def record(
    chunks: list[tuple[int, ChunkKind, int | None]],
    *,
    output_tokens: int | None,
    t_sent_ms: int = 0,
    t_end_ms: int | None = None,
    error_kind: str | None = None,
) -> RequestRecord:
    """A record as StreamClient would build it from (ms, kind, tokens) chunks."""
    cs = tuple(Chunk(ms * MS, kind, tokens) for ms, kind, tokens in chunks)
    first_content = next((c.t_ns for c in cs if c.kind != "empty"), None)
    return RequestRecord(
        scenario="t",
        label="",
        seq=0,
        params={},
        t_sent_ns=t_sent_ms * MS,
        t_first_chunk_ns=cs[0].t_ns if cs else None,
        t_first_content_ns=first_content,
        t_end_ns=(t_end_ms if t_end_ms is not None else (chunks[-1][0] + 1 if chunks else t_sent_ms)) * MS,
        chunks=cs,
        output_tokens=output_tokens,
        error_kind=error_kind,
    )


def test_the_role_only_first_chunk_is_not_ttft() -> None:
    # role-only chunk at 2 ms, first content at 100 ms
    r = record(
        [(2, "empty", 0), (100, "content", 1), (120, "content", 1), (140, "content", 1), (180, "content", 1)],
        output_tokens=4,
    )
    assert derive.ttft_ms(r) == 100.0
    # decode: 3 tokens after the first content chunk over 180 - 100 = 80 ms
    assert derive.decode_tok_s(r) == pytest.approx(37.5)
    assert derive.itl_ms(r) == [20.0, 20.0, 40.0]


def test_ttft_counts_from_the_request_being_sent() -> None:
    r = record([(1_005, "empty", 0), (1_250, "content", 1)], output_tokens=1, t_sent_ms=1_000)
    assert derive.ttft_ms(r) == 250.0


def test_speculation_three_tokens_per_chunk_decode_uses_usage_tokens_not_chunks() -> None:
    r = record(
        [(1, "empty", 0), (100, "content", 3), (130, "content", 3), (160, "content", 3), (190, "content", 3)],
        output_tokens=12,
    )
    # (12 - 3) tokens / 90 ms = 100 tok/s; counting chunks would say 3 / 90 ms = 33.3
    assert derive.decode_tok_s(r) == pytest.approx(100.0)
    # each 30 ms gap carried 3 tokens
    assert derive.itl_ms(r) == pytest.approx([10.0, 10.0, 10.0])
    assert derive.chunk_token_total(r) == 12


def test_uneven_tokens_per_chunk_itl_divides_by_the_later_chunk() -> None:
    r = record([(100, "content", 2), (130, "content", 3), (140, "content", 1)], output_tokens=6)
    assert derive.decode_tok_s(r) == pytest.approx(100.0)  # (6 - 2) / 40 ms
    assert derive.itl_ms(r) == pytest.approx([10.0, 10.0])  # 30 ms / 3, 10 ms / 1


def test_reasoning_chunks_are_first_content_and_are_output() -> None:
    r = record(
        [
            (3, "empty", 0),
            (50, "reasoning", 1),
            (70, "reasoning", 1),
            (90, "content", 1),
            (110, "content", 1),
        ],
        output_tokens=4,
    )
    assert derive.ttft_ms(r) == 50.0
    assert derive.decode_tok_s(r) == pytest.approx(50.0)  # 3 / 60 ms
    assert derive.itl_ms(r) == [20.0, 20.0, 20.0]


def test_tool_call_chunks_are_content() -> None:
    r = record([(40, "tool", 1), (60, "tool", 1), (80, "tool", 1)], output_tokens=3)
    assert derive.ttft_ms(r) == 40.0
    assert derive.decode_tok_s(r) == pytest.approx(50.0)  # 2 / 40 ms


def test_decode_excludes_the_first_content_chunks_tokens_and_the_time_before_it() -> None:
    # a big first chunk (5 tokens, e.g. a prefix the server flushed at once) after 500 ms
    r = record([(500, "content", 5), (520, "content", 1), (540, "content", 1)], output_tokens=7)
    assert derive.decode_tok_s(r) == pytest.approx(50.0)  # (7 - 5) / 40 ms, not 7 / 540 ms


def test_empty_chunks_between_content_do_not_split_an_itl_gap() -> None:
    r = record([(100, "content", 1), (105, "empty", 0), (130, "content", 1)], output_tokens=2)
    assert derive.itl_ms(r) == [30.0]


def test_missing_per_chunk_counts_fall_back_to_one_token_per_chunk() -> None:
    # a server without continuous usage: only the final usage says 4 tokens
    r = record(
        [
            (1, "empty", None),
            (100, "content", None),
            (120, "content", None),
            (140, "content", None),
            (160, "content", None),
        ],
        output_tokens=4,
    )
    assert derive.decode_tok_s(r) == pytest.approx(50.0)  # (4 - 1) / 60 ms
    assert derive.itl_ms(r) == [20.0, 20.0, 20.0]
    assert derive.chunk_token_total(r) is None


def test_missing_counts_under_speculation_spread_usage_over_the_chunks() -> None:
    # 8 tokens in 4 chunks and no per-chunk counts: 2 per chunk, not 1 (that would be
    # counting chunks as tokens, the pitfall speculation exposes)
    r = record(
        [(100, "content", None), (120, "content", None), (140, "content", None), (160, "content", None)],
        output_tokens=8,
    )
    assert derive.decode_tok_s(r) == pytest.approx(100.0)  # (8 - 2) / 60 ms
    assert derive.itl_ms(r) == pytest.approx([10.0, 10.0, 10.0])  # 20 ms / 2


def test_no_figures_without_enough_to_go_on() -> None:
    one_chunk = record([(100, "content", 4)], output_tokens=4)
    assert derive.decode_tok_s(one_chunk) is None
    assert derive.itl_ms(one_chunk) == []
    no_usage = record([(100, "content", None), (120, "content", None)], output_tokens=None)
    assert derive.decode_tok_s(no_usage) is None
    nothing = record([(5, "empty", 0)], output_tokens=0)
    assert derive.ttft_ms(nothing) is None
    same_instant = record([(100, "content", 1), (100, "content", 1)], output_tokens=2)
    assert derive.decode_tok_s(same_instant) is None


def test_e2e_is_sent_to_end() -> None:
    r = record([(100, "content", 1)], output_tokens=1, t_sent_ms=10, t_end_ms=260)
    assert derive.e2e_s(r) == pytest.approx(0.25)


def test_aggregate_is_all_ok_output_tokens_over_first_sent_to_last_end() -> None:
    batch = [
        record([(50, "content", 10)], output_tokens=10, t_sent_ms=0, t_end_ms=100),
        record([(60, "content", 20)], output_tokens=20, t_sent_ms=10, t_end_ms=150),
        record([(70, "content", 30)], output_tokens=30, t_sent_ms=20, t_end_ms=200),
        # a failed request's tokens and times are left out
        record(
            [(80, "content", 99)], output_tokens=99, t_sent_ms=0, t_end_ms=900, error_kind="stream_broken"
        ),
    ]
    # 60 tokens / (200 - 0) ms
    assert derive.aggregate_tok_s(batch) == pytest.approx(300.0)


def test_aggregate_of_nothing_is_none() -> None:
    assert derive.aggregate_tok_s([]) is None
    failed = record([(80, "content", 5)], output_tokens=5, error_kind="http_5xx")
    assert derive.aggregate_tok_s([failed]) is None


def _span(sent_ms: float, end_ms: float) -> RequestRecord:
    return RequestRecord(params={}, t_sent_ns=int(sent_ms * 1e6), t_end_ns=int(end_ms * 1e6))


def test_the_steady_window_leaves_out_ramp_up_and_drain_and_survives_dips() -> None:
    # 3 streams: sent at 0, 1, 2 ms (in flight reaches 3 at 2 ms); each freed slot refills a
    # microsecond later (a dip to 2 that must not end the window); the last three drain.
    reqs = [_span(0, 10), _span(1, 11), _span(2, 12), _span(10.001, 20), _span(11.001, 21), _span(12.001, 22)]
    w = derive.steady_window(reqs, 3)
    assert w is not None and w == (2_000_000, 20_000_000)
    inside = [r for r in reqs if derive.in_window(r, w)]
    assert inside == [reqs[2], reqs[3]]  # the 2 ms one is the first sent with 3 in flight
    assert derive.steady_window(reqs, 4) is None  # never 4 in flight
