"""What a block prefix cache can serve, and the groups a Zipf skew draws."""

from __future__ import annotations

import random

import pytest

from dyno.errors import UsageError
from dyno.workloads.prefixes import SharedPrefixes, cacheable_tokens, common_prefix, theoretical_hits


def test_a_cache_serves_whole_blocks_and_never_the_prompts_last_token() -> None:
    assert cacheable_tokens(100, 64, 16) == 64
    assert cacheable_tokens(100, 70, 16) == 64  # a part block is recomputed
    assert cacheable_tokens(64, 64, 16) == 48  # the last token is computed to answer
    assert cacheable_tokens(10, 64, 16) == 0
    assert common_prefix([1, 2, 3, 4], [1, 2, 9]) == 2


def test_the_bound_follows_send_order_groups_and_the_shared_head() -> None:
    facts = {
        "group_shared_tokens": [40, 72],
        "head_shared_tokens": 20,
        # warm-up of group 0, then group 1 (first of its group: only the head), 0 again, 1 again.
        "order": [["warmup", 0, 0], ["c1", 0, 1], ["c1", 1, 0], ["c1", 2, 1]],
    }
    prompts = {("warmup", 0): 100, ("c1", 0): 100, ("c1", 1): 100, ("c1", 2): 100}
    bound = theoretical_hits(facts, prompts, 16)
    assert bound["warmup"].hits == 0
    assert bound["c1"].hits == 16 + 32 + 64 and bound["c1"].queries == 300


def test_zipf_draws_group_k_in_proportion_to_one_over_k() -> None:
    spec = SharedPrefixes(groups=4, tokens=8, zipf=1.0)
    rng = random.Random(1)
    counts = [0] * 4
    for _ in range(20_000):
        counts[spec.draw(rng)] += 1
    weights = [1, 1 / 2, 1 / 3, 1 / 4]
    for c, w in zip(counts, weights, strict=True):
        assert c / 20_000 == pytest.approx(w / sum(weights), abs=0.015)
    with pytest.raises(UsageError):
        SharedPrefixes(groups=0, tokens=8)
