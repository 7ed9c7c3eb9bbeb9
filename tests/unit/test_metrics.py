"""Prometheus deltas on /metrics text captured from vLLM 0.32 CPU (one request between scrapes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dyno.metrics import counter_delta, parse
from dyno.metrics.vllm import (
    GENERATION_TOKENS,
    PROMPT_TOKENS,
    mean_queue_time_s,
    prefix_cache_delta,
    spec_decode_delta,
)

M = Path(__file__).parent.parent / "fixtures" / "metrics"


def scrape(name: str):  # type: ignore[no-untyped-def]
    return parse((M / name).read_text())


def test_token_counter_deltas_match_the_request_usage() -> None:
    # The request between the scrapes reported usage prompt_tokens=34, completion_tokens=20.
    b, a = scrape("vllm-0.32-cpu-before.txt"), scrape("vllm-0.32-cpu-after.txt")
    assert counter_delta(b, a, GENERATION_TOKENS) == 20
    assert counter_delta(b, a, PROMPT_TOKENS) == 34
    assert counter_delta(b, a, "vllm:request_success_total") == 1
    assert counter_delta(b, a, "vllm:request_success_total", finished_reason="length") == 1
    assert counter_delta(b, a, "vllm:no_such_metric_total") is None


def test_prefix_cache_and_queue_deltas() -> None:
    b, a = scrape("vllm-0.32-cpu-before.txt"), scrape("vllm-0.32-cpu-after.txt")
    d = prefix_cache_delta(b, a)
    assert d is not None and (d.queries, d.hits, d.hit_rate) == (34, 0, 0)
    q = mean_queue_time_s(b, a)
    assert q is not None and 0 <= q < 1


def test_no_spec_counters_on_a_plain_server() -> None:
    assert spec_decode_delta(scrape("vllm-0.32-cpu-before.txt"), scrape("vllm-0.32-cpu-after.txt")) is None


def test_spec_decode_delta_from_an_ngram_server() -> None:
    d = spec_decode_delta(scrape("vllm-0.32-cpu-ngram-before.txt"), scrape("vllm-0.32-cpu-ngram-after.txt"))
    assert d is not None and d.active
    assert (d.drafts, d.draft_tokens, d.accepted_tokens) == (2, 8, 4)
    assert d.accepted_per_position == (1, 1, 1, 1)
    assert sum(d.accepted_per_position) == d.accepted_tokens
    assert d.acceptance_rate == pytest.approx(0.5)
    assert d.mean_acceptance_length == pytest.approx(3.0)
    assert d.per_position_rate == (0.5, 0.5, 0.5, 0.5)


def test_counters_that_did_not_move_are_inactive() -> None:
    s = scrape("vllm-0.32-cpu-ngram-before.txt")
    d = spec_decode_delta(s, s)
    assert d is not None and not d.active and d.acceptance_rate is None
