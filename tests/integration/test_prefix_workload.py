"""Shared prefixes against the pacing server with a known prefix cache (an LRU of token-id blocks,
vLLM's counters on /metrics): the prompts share what they should, and dyno's bound for an unlimited
cache matches what an unlimited cache served, while a small cache shows up as a named gap."""

from __future__ import annotations

from pathlib import Path

from dyno.bench.runner import run_bench
from dyno.bench.scenarios.workload import Workload
from dyno.bench.summary import summarize_run
from dyno.engine.target import TargetSpec
from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.prefixes import SEP, SharedPrefixes
from dyno.workloads.shapes import Lengths
from tests.fixtures.pacing import StartPacing

PREFIXES = SharedPrefixes(groups=3, tokens=64, zipf=1.0)


def workload(prefixes: SharedPrefixes = PREFIXES) -> Workload:
    return Workload(
        levels=(1,),
        requests=24,
        input_tokens=Lengths("fixed", 16),
        output_tokens=Lengths("fixed", 4),
        prefixes=prefixes,
    )


def run(url: str, w: Workload) -> tuple[dict[str, float], list[str]]:
    s = Settings.from_env()
    store = Store(s.db_path)
    rid = run_bench(s, store, [w], TargetSpec(url), suite="workload").run_id
    rep = summarize_run(store, rid)
    store.close()
    (sc,) = rep.scenarios
    rows = {r.metric: r.mean for r in sc.rows if r.label == "c1" and r.metric.startswith("cache_hit")}
    return rows, list(sc.notes)


def user_text(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    return str(messages[-1]["content"])


def test_requests_of_a_group_share_its_prefix_and_the_bound_is_what_a_roomy_cache_serves(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, prefix_cache_blocks=10_000, block_tokens=16)
    rows, notes = run(srv.url, workload())
    texts = [user_text(r.body) for r in srv.sent_log if r.path == "/v1/chat/completions"]
    prefixes = [t.split(SEP)[0] for t in texts]
    assert len(texts) == 25 and len(set(prefixes)) <= 3  # the warm-up and 24 requests
    assert all(len(p.split()) == 64 for p in prefixes)  # the fixture counts a token per word
    assert len(set(texts)) == 25  # each request's own text differs after the prefix
    # Zipf 1 over 3 groups: group 1 is drawn about half the time.
    top = max(prefixes.count(p) for p in set(prefixes))
    assert top > len(texts) / 3
    # Sequential requests and a cache that never evicts: measured and bound agree to the token.
    assert rows["cache_hit_rate"] == rows["cache_hit_rate_bound"]
    assert 0.5 < rows["cache_hit_rate"] < 1
    assert not any("could be" in n for n in notes), notes


def test_a_cache_too_small_for_the_prefixes_is_named_as_the_gap(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    # 3 equally likely groups of 4 blocks each, and room for 6 blocks: a group's prefix survives
    # only until another group's request comes.
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, prefix_cache_blocks=6, block_tokens=16)
    rows, notes = run(srv.url, workload(SharedPrefixes(groups=3, tokens=64)))
    assert rows["cache_hit_rate"] < 0.8 * rows["cache_hit_rate_bound"]
    assert any("could be" in n and "too small" in n for n in notes), notes


def test_without_prefix_counters_the_bound_is_shown_and_the_hit_rate_is_not_guessed(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001)
    rows, notes = run(srv.url, workload())
    assert "cache_hit_rate" not in rows and rows["cache_hit_rate_bound"] > 0.5
    assert any("not measured" in n for n in notes) and any("assumed" in n for n in notes), notes
