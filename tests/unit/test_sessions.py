"""The session cache bound: what an unlimited prefix cache could hold when each turn was sent."""

from __future__ import annotations

import pytest

from dyno.errors import UsageError
from dyno.workloads.sessions import Sent, SessionSpec, fits, shared_tokens

MS = 1_000_000


def test_a_turn_shares_its_history_and_the_reply_only_once_that_reply_has_ended() -> None:
    system = list(range(100, 140))
    turn1 = [*system, 1, 2, 3]
    reply1 = [7, 8, 9, 10]
    turn2 = [*turn1, *reply1, 0, 4, 5]  # the history carries the reply, then the template, a new turn
    first = Sent(turn1, 4, t_prefilled_ns=10 * MS, t_end_ns=40 * MS)
    later = Sent(turn2, 5, t_prefilled_ns=60 * MS, t_end_ns=70 * MS)
    assert shared_tokens([first, later]) == [0, len(turn1) + len(reply1)]
    # Its first token came while the first was still generating: the prompt was cached, the reply not.
    early = Sent(turn2, 5, t_prefilled_ns=30 * MS, t_end_ns=45 * MS)
    assert shared_tokens([first, early]) == [0, len(turn1)]
    # Prefilled before the first had: nothing of the first was in any cache yet (and the first
    # could have been served the part of it they share).
    racing = Sent(turn2, 5, t_prefilled_ns=5 * MS, t_end_ns=25 * MS)
    assert shared_tokens([first, racing]) == [len(turn1), 0]


def test_of_two_sent_at_once_the_one_prefilled_second_may_be_served_the_first() -> None:
    # vLLM queues one behind the other; the second's prefill finds the first's blocks.
    system = list(range(100, 140))
    a = Sent([*system, 1, 2], 8, t_prefilled_ns=5 * MS, t_end_ns=9 * MS)
    b = Sent([*system, 5, 6], 8, t_prefilled_ns=8 * MS, t_end_ns=12 * MS)
    assert shared_tokens([a, b]) == [0, len(system)]


def test_another_users_turn_shares_only_the_common_system_prompt() -> None:
    system = list(range(100, 140))
    a = Sent([*system, 1, 2], 8, t_prefilled_ns=1, t_end_ns=2)
    b = Sent([*system, 5, 6], 8, t_prefilled_ns=4, t_end_ns=5)
    assert shared_tokens([a, b]) == [0, len(system)]  # a's reply is not b's: no extension


def test_the_reply_extension_never_passes_the_prompt() -> None:
    a = Sent([1, 2, 3], 50, t_prefilled_ns=1, t_end_ns=2)
    b = Sent([1, 2, 3, 4, 5], 1, t_prefilled_ns=4, t_end_ns=5)
    assert shared_tokens([a, b])[1] == 5


def test_user_centric_slots_stagger_users_over_one_gap() -> None:
    spec = SessionSpec(4, rate=2.0)  # a user's gap: 4 / 2 = 2 s
    assert spec.gap_s == 2.0
    assert [spec.slot_s(s, 0) for s in range(4)] == [0.0, 0.5, 1.0, 1.5]
    assert spec.slot_s(1, 3) == 6.5
    assert SessionSpec(4, think_time_s=1.0).slot_s(0, 1) is None


def test_a_next_turn_fits_only_with_its_reply() -> None:
    assert fits(1000, 100, 200, 100, 2048)
    assert not fits(1500, 300, 200, 100, 2048)


@pytest.mark.parametrize(
    "kw", [{"sessions": 0}, {"sessions": 2, "think_time_s": -1}, {"sessions": 2, "rate": 0}]
)
def test_bad_session_knobs_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        SessionSpec(**kw)  # type: ignore[arg-type]
