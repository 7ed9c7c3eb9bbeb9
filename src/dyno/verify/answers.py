"""The numeric answer in a model's reply to a word problem.

The prompt asks for a final line `Answer: <number>`. The extraction order:
1. the last `Answer: ...` (also `answer is`, `**Answer:** $1,200.50`, ...)
   followed by a number;
2. otherwise the last number anywhere in the reply (a model that ignored the
   format but ended on its result still scores; one that rambled on does not).

Numbers: optional minus, thousands commas only in valid groups (`1,250`),
optional decimals. Answers compare as exact decimals, so "0.30" == "0.3"
and "12.0" == "12".
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The look-behind keeps "5-3" from reading as "-3" and "1.5" from yielding "5"; the look-ahead
# keeps "1,2345" from reading as "1,234".
_NUMBER = r"(?<![\d.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_ANSWER = re.compile(
    r"answer(?:\s+is)?\s*[*_]*\s*[:=]?\s*[*_]*\s*(?:is\s+)?[$€£]?\s*(" + _NUMBER + ")",
    re.IGNORECASE,
)
_ANY = re.compile(_NUMBER)


def to_decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def extract_answer(reply: str) -> str | None:
    """The reply's final numeric answer, normalised ("1,250" -> "1250"); None if it has no number."""
    marked = _ANSWER.findall(reply)
    found = marked[-1] if marked else next(reversed(_ANY.findall(reply)), None)
    if found is None:
        return None
    value = to_decimal(found)
    return None if value is None else _plain(value)


def _plain(d: Decimal) -> str:
    # normalize() gives "1.2E+3" for 1200; format it back to positional notation.
    s = format(d.normalize(), "f")
    return "0" if s in ("-0", "0") else s


def is_correct(extracted: str | None, expected: str) -> bool:
    if extracted is None:
        return False
    got, want = to_decimal(extracted), to_decimal(expected)
    return got is not None and want is not None and got == want
