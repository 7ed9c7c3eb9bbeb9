"""Sessions against the pacing server, which logs every request's messages and keeps a known prefix
cache (an LRU of token-id blocks, prompt and generated alike, with vLLM's counters and usage's
`cached_tokens`): each turn carries the earlier real replies verbatim, turns leave when they are
meant to, and the per-turn cached tokens the server reports are what dyno's bound says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dyno.bench.runner import run_bench
from dyno.bench.scenario import ResultRow
from dyno.bench.scenarios.sessions import Sessions
from dyno.bench.summary import summarize_run
from dyno.client import RequestRecord
from dyno.engine.target import TargetSpec
from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.dataset import load_dataset
from dyno.workloads.sessions import SessionSpec
from dyno.workloads.shapes import Lengths
from tests.fixtures.pacing import StartPacing


def run(url: str, sc: Sessions) -> tuple[list[RequestRecord], list[ResultRow], list[str]]:
    s = Settings.from_env()
    store = Store(s.db_path)
    rid = run_bench(s, store, [sc], TargetSpec(url), suite="sessions").run_id
    rep = summarize_run(store, rid)
    reqs = [r for r in store.requests(rid) if r.label != "warmup"]
    store.close()
    (summary,) = rep.scenarios
    return reqs, list(summary.rows), list(summary.notes)


def by_turn(rows: list[ResultRow], metric: str) -> dict[str, float | None]:
    return {r.label: r.mean for r in rows if r.metric == metric}


def test_each_turn_carries_the_earlier_real_replies_and_the_cache_serves_the_bound(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(
        ttft_s=0.002, itl_s=0.001, tag_words=True, prefix_cache_blocks=10_000, block_tokens=16
    )
    think = 0.05
    sc = Sessions(
        spec=SessionSpec(3, Lengths("fixed", 4), think_time_s=think),
        input_tokens=Lengths("fixed", 24),
        output_tokens=Lengths("fixed", 6),
    )
    reqs, rows, notes = run(srv.url, sc)
    assert len(reqs) == 12 and all(r.ok for r in reqs)
    # The fixture's replies open with the server's id for the request: the wire's conversation of each.
    sent = {r.id: r for r in srv.sent_log}
    conversation = {
        r.seq * 10 + int(r.label[1:]): sent[r.output_text.split()[0]].body["messages"] for r in reqs
    }
    for s in range(3):
        turns = sorted((r for r in reqs if r.seq == s), key=lambda r: r.label)
        assert [r.label for r in turns] == ["t1", "t2", "t3", "t4"]
        for k, r in enumerate(turns):
            messages = conversation[s * 10 + k + 1]
            assert [m["role"] for m in messages] == ["user", "assistant"] * k + ["user"]
            # Turn k carries every earlier reply verbatim, and each is the server's own (it names its id).
            for j in range(k):
                reply = messages[2 * j + 1]["content"]
                assert reply == turns[j].output_text
                assert reply.split()[0] in sent and reply.split()[0].startswith("chatcmpl-")
            if k:
                # Think time: due exactly `think` after the reply ended, never sent before it.
                assert r.t_intended_ns == turns[k - 1].t_end_ns + int(think * 1e9)
                assert r.t_sent_ns >= r.t_intended_ns
    cached, bound = by_turn(rows, "cached_tokens"), by_turn(rows, "cached_tokens_bound")
    assert cached["t1"] == 0 and all(cached[t] and cached[t] > 0 for t in ("t2", "t3", "t4"))
    # One user's turns are sequential and the cache never evicts: reported and bound agree exactly.
    assert cached == bound
    prompt = [by_turn(rows, "prompt_tokens")[f"t{k}"] or 0 for k in (1, 2, 3, 4)]
    assert 0 < prompt[0] < prompt[1] < prompt[2] < prompt[3]  # never 0, and the history grows
    assert by_turn(rows, "session_s")["all"] and by_turn(rows, "cache_hit_rate")["all"]
    hit, hit_bound = by_turn(rows, "cache_hit_rate")["all"], by_turn(rows, "cache_hit_rate_bound")["all"]
    assert hit is not None and hit_bound is not None and abs(hit - hit_bound) < 1e-9
    assert not any("did not report" in n for n in notes), notes


def test_a_user_centric_rate_spaces_each_users_turns_sessions_over_rate_apart(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001)
    sc = Sessions(
        spec=SessionSpec(4, Lengths("fixed", 3), rate=40.0),  # a user's gap: 4 / 40 = 0.1 s
        input_tokens=Lengths("fixed", 8),
        output_tokens=Lengths("fixed", 2),
    )
    reqs, _, notes = run(srv.url, sc)
    assert len(reqs) == 12
    t0 = min(r.t_intended_ns or 0 for r in reqs)
    for r in reqs:
        k = int(r.label[1:]) - 1
        assert r.t_intended_ns is not None and r.t_sent_ns >= r.t_intended_ns
        # Users staggered evenly over one gap, then a gap per turn (to the nanosecond's rounding).
        assert abs((r.t_intended_ns - t0) - round(0.1e9 * (r.seq / 4 + k))) <= 1
    assert any("did not report" in n for n in notes)  # this fixture has no prefix cache


def test_a_history_that_outgrows_the_context_ends_its_session_with_a_note(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.001, itl_s=0.0005, max_model_len=400)
    sc = Sessions(
        spec=SessionSpec(2, Lengths("fixed", 20)),
        input_tokens=Lengths("fixed", 40),
        output_tokens=Lengths("fixed", 20),
    )
    reqs, _, notes = run(srv.url, sc)
    assert reqs and all(r.ok for r in reqs)  # no turn was sent that the server had to refuse
    assert len(reqs) < 40
    assert any("2 of 2 sessions ended early" in n and "400-token context" in n for n in notes), notes


def test_dataset_conversations_send_their_user_turns_with_the_live_replies(
    pacing_server: StartPacing, dyno_home: Path, tmp_path: Path
) -> None:
    convs: list[dict[str, Any]] = [
        {
            "conversations": [
                {"from": "system", "value": f"you are helper {c}"},
                *(
                    turn
                    for k in range(3)
                    for turn in (
                        {"from": "human", "value": f"question {c}.{k}"},
                        {"from": "gpt", "value": f"RECORDED answer {c}.{k} " * 10},
                    )
                ),
            ]
        }
        for c in range(2)
    ]
    path = tmp_path / "chats.json"
    path.write_text(json.dumps(convs))
    srv = pacing_server(ttft_s=0.001, itl_s=0.0005, tag_words=True)
    sc = Sessions(spec=SessionSpec(2), dataset=load_dataset(path))
    reqs, _, _ = run(srv.url, sc)
    assert len(reqs) == 6
    sent = {r.id: r for r in srv.sent_log}
    for r in reqs:
        messages = sent[r.output_text.split()[0]].body["messages"]
        assert messages[0]["role"] == "system" and messages[0]["content"].startswith("you are helper")
        c = messages[0]["content"][-1]
        users = [m["content"] for m in messages if m["role"] == "user"]
        assert users == [f"question {c}.{k}" for k in range(len(users))]
        assert not any("RECORDED" in m["content"] for m in messages)  # live replies only
        # Each turn's budget is its recorded reply's length (characters / 4).
        assert r.params["max_tokens"] == len("RECORDED answer 0.0 " * 10) // 4


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"sessions": 2, "requests": 10}, "--requests does not apply to --sessions"),
        ({"sessions": 2, "rates": (1.0, 2.0)}, "one user-centric rate"),
        ({"sessions": 2, "rates": (1.0,), "think_time_s": 1.0}, "give one of them"),
        ({"turns": Lengths("fixed", 3)}, "add --sessions N"),
        ({"tool_result_tokens": Lengths("fixed", 64)}, "add --sessions N"),
        ({"sessions": 2, "tool_choice": "required"}, "add --tool-result-tokens N"),
        (
            {
                "sessions": 2,
                "tool_result_tokens": Lengths("fixed", 64),
                "dataset": Path("/nonexistent.jsonl"),
            },
            "a --dataset brings its own conversations",
        ),
    ],
)
def test_session_knobs_that_contradict_are_refused(knobs: dict[str, Any], message: str) -> None:
    from dyno.bench import suites
    from dyno.errors import UsageError

    with pytest.raises(UsageError, match=message):
        suites.choose("quick", None, None, None, suites.WorkloadKnobs(**knobs))


def test_a_cache_warm_from_an_earlier_run_is_said_when_it_serves_past_the_bound(
    pacing_server: StartPacing, dyno_home: Path, tmp_path: Path
) -> None:
    # A dataset's conversations are sent verbatim (no run salt): a second run of them finds the
    # first run's blocks in the server's cache, which no bound over its own requests can count.
    path = tmp_path / "chats.jsonl"
    path.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": f"conversation {c} " + "word " * 60}]})
            + "\n"
            for c in range(2)
        )
    )
    srv = pacing_server(ttft_s=0.001, itl_s=0.0005, prefix_cache_blocks=1000, block_tokens=16)
    sc = Sessions(spec=SessionSpec(2), dataset=load_dataset(path), output_tokens=Lengths("fixed", 4))
    _, _, first = run(srv.url, sc)
    _, rows, second = run(srv.url, sc)
    assert not any("before the run" in n for n in first)
    assert (by_turn(rows, "cached_tokens")["t1"] or 0) > (by_turn(rows, "cached_tokens_bound")["t1"] or 0)
    assert any("2 turns were served more from the cache than this run" in n for n in second)


def test_a_cache_too_small_for_the_histories_is_named_as_the_gap(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    # Room for 2 blocks of 16 tokens: turn 2 of a user finds its history evicted.
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, prefix_cache_blocks=2, block_tokens=16)
    sc = Sessions(
        spec=SessionSpec(2, Lengths("fixed", 3)),
        input_tokens=Lengths("fixed", 40),
        output_tokens=Lengths("fixed", 8),
    )
    _, rows, notes = run(srv.url, sc)
    bound = by_turn(rows, "cache_hit_rate_bound")["all"]
    assert bound and bound > 0.3
    assert any("could be" in n and "too small" in n for n in notes), notes


def test_the_report_page_plots_ttft_and_cached_tokens_by_turn(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    from dyno.report.html import report_html

    srv = pacing_server(ttft_s=0.002, itl_s=0.001, prefix_cache_blocks=1000, block_tokens=16)
    sc = Sessions(spec=SessionSpec(2, Lengths("fixed", 3)), input_tokens=Lengths("fixed", 20))
    s = Settings.from_env()
    with Store(s.db_path) as store:
        rid = run_bench(s, store, [sc], TargetSpec(srv.url), suite="sessions").run_id
        html = report_html(store, rid)
    assert 'data-plot="sessions-ttft-by-turn"' in html and 'data-plot="sessions-cached-by-turn"' in html


def test_a_jsonl_prompt_line_is_a_conversation_of_one_turn(
    pacing_server: StartPacing, dyno_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text(
        '{"prompt": "say one thing", "max_tokens": 3}\n{"prompt": "say another", "max_tokens": 3}\n'
    )
    srv = pacing_server(ttft_s=0.001, itl_s=0.0005)
    reqs, _, _ = run(srv.url, Sessions(spec=SessionSpec(2), dataset=load_dataset(path)))
    assert len(reqs) == 2 and all(r.ok and r.label == "t1" for r in reqs)
    users = sorted(r.body["messages"][-1]["content"] for r in srv.sent_log if r.body.get("max_tokens") == 3)
    assert users == ["say another", "say one thing"]
