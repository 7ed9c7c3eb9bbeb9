"""dyno capacity with users in conversations (--turns) against a test server with a KNOWN capacity.

The pacing fixture with `slots=k` generates k requests at once; the rest wait FIFO and their
first token with them. Users with no think time keep one turn each in flight, so k users fit and
k + 1 put a turn in the queue at every reply: under a TTFT objective the answer is k users, the
limit a queue (the timing margins are test_capacity.py's QUEUE_PACE, explained there).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.shapes import Lengths
from tests.fixtures.pacing import StartPacing, StartPacingProcess
from tests.integration.test_capacity import QUEUE_PACE, QUEUE_SLO, QUEUE_TOKENS, capacity, run_cli


def users(url: str, slo: str, **kw: object):  # type: ignore[no-untyped-def]
    """test_capacity's search with users: 3 turns each unless `kw` says otherwise; and its requests."""
    out, rep = capacity(url, [slo], QUEUE_TOKENS, **({"turns": Lengths("fixed", 3)} | kw))
    with Store(Settings.from_env().db_path) as store:
        return out, rep, store.requests(out.run_id)


def test_users_behind_k_slots_are_found_at_k_each_turn_carrying_the_history(
    pacing_process: StartPacingProcess, dyno_home: Path
) -> None:
    srv = pacing_process(slots=3, **QUEUE_PACE)
    out, rep, reqs = users(srv.url, QUEUE_SLO)
    assert out.exit_code == 0, out.message
    assert rep.unit == "users" and rep.answer.capacity == 3 and rep.answer.resolved
    assert rep.sentence.startswith(f"Capacity: 3 users at once ({QUEUE_SLO}, for 95% of turns)")
    assert rep.limit.kind == "queue" and "at 4 users" in rep.limit.sentence, rep.limit.sentence
    for p in rep.probes:
        # each user's first turn left with every other user's: the ramp, stored and not judged
        assert len([r for r in reqs if r.label == f"{p.level}/ramp"]) == p.level
    # a session's turns carry its history: each turn's prompt is longer than the one before
    by_session: dict[int, list[int]] = defaultdict(list)
    for r in sorted(reqs, key=lambda r: r.t_sent_ns):
        if r.label != "warmup" and r.ok:
            by_session[r.seq].append(r.prompt_tokens or 0)
    multi = [p for p in by_session.values() if len(p) >= 2]
    assert len(multi) > 10
    assert all(a < b for p in multi for a, b in itertools.pairwise(p))
    assert max(len(p) for p in by_session.values()) == 3  # a session ends at its turns, a new one starts


def test_agents_whose_server_calls_no_tools_are_told_the_flags_and_nothing_is_probed(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, reject_tools_auto=True)
    out, rep, reqs = users(srv.url, "ttft_ms<=5000", tool_result_tokens=Lengths("fixed", 16))
    assert out.exit_code == 1
    assert "tool calling not enabled" in out.message and "--enable-auto-tool-choice" in out.message
    assert rep.probes == [] and [r.label for r in reqs] == ["warmup"]


def test_agents_send_each_tool_result_back_and_every_turn_is_judged(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, tool_calls=True)
    out, rep, _ = users(
        srv.url,
        "ttft_ms<=5000",
        max_concurrency=2,
        turns=Lengths("fixed", 2),
        tool_result_tokens=Lengths("fixed", 16),
    )
    assert out.exit_code == 0, out.message
    assert rep.answer.capacity == 2 and rep.answer.at_max
    sent = [r.body for r in srv.sent_log if r.body.get("tools")]
    results = [b for b in sent if b["messages"][-1]["role"] == "tool"]
    # a task turn gets a call; its result goes back as the next turn, every time
    assert results and len(results) * 2 >= len(sent) - 3
    judged = sum(p.attainment.counted for p in rep.probes)
    assert judged >= 2 * 59  # two levels each shown >= 95% (all conforming needs 59 judged)


def test_session_shapes_without_turns_are_refused(dyno_home: Path) -> None:
    r = run_cli("http://127.0.0.1:9", "--slo", "ttft_ms<=500", "--tool-result-tokens", "64")
    assert r.returncode == 2 and "add --turns T" in " ".join(r.stderr.split())
