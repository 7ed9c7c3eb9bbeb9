"""The numeric answer in a word-problem reply."""

from __future__ import annotations

import pytest

from dyno.verify.answers import extract_answer, is_correct


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("24 + 18 = 42, 42 - 35 = 7.\nAnswer: 7", "7"),
        ("Answer: 11.75", "11.75"),
        ("**Answer:** $1,200.50", "1200.5"),
        ("The answer is 7 muffins. (Check: 24 + 18 - 35 = 7, and 3 boxes.)", "7"),  # the marked one wins
        ("First guess Answer: 5. Wait, recount. Answer: 6", "6"),  # the last marked one wins
        ("answer = -4", "-4"),
        ("Answer: 0.30", "0.3"),
        ("Answer: 12.", "12"),
        ("So she spends 1,250 dollars in total.", "1250"),  # no marker: the last number
        ("5-3=2", "2"),  # a minus between digits is subtraction, not a sign
        ("The temperature is -4 degrees.", "-4"),
        ("It is 1.5 kg", "1.5"),
        ("Answer: 1,2345", "1"),  # not a valid thousands group: read up to the comma
        ("1e3", "3"),  # no scientific notation
        ("I cannot solve this.", None),
        ("", None),
    ],
)
def test_extract_answer(reply: str, answer: str | None) -> None:
    assert extract_answer(reply) == answer


@pytest.mark.parametrize(
    ("extracted", "expected", "ok"),
    [
        ("0.3", "0.3", True),
        ("0.30", "0.3", True),
        ("12", "12.0", True),
        ("1250", "1250", True),
        ("11.7", "11.75", False),
        ("-7", "7", False),
        (None, "7", False),
    ],
)
def test_is_correct_compares_exact_decimals(extracted: str | None, expected: str, ok: bool) -> None:
    assert is_correct(extracted, expected) is ok
