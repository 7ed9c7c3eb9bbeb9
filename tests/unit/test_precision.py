"""--precision: repeat until the mean's 95% interval is within ±X, or --max-repeats; say which."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from dyno.bench.precision import Reached, parse_precision, repeat
from dyno.bench.stats import mean_half_width
from dyno.errors import UsageError


def run(
    values: list[float | None], first: int, asked: float | None, max_repeats: int = 20
) -> tuple[Reached, list[int]]:
    it = itertools.cycle(values)
    seqs: list[int] = []

    async def one(i: int) -> float | None:
        seqs.append(i)
        return next(it)

    reached = asyncio.run(repeat(one, first, asked, max_repeats, label="256", figure="decode tok/s"))
    return reached, seqs  # type: ignore[return-value]  # None only without `asked`: checked there


def test_a_steady_figure_stops_as_soon_as_it_is_precise() -> None:
    reached, seqs = run([30.0, 30.3, 29.8], first=3, asked=0.05)
    assert seqs == [0, 1, 2]  # ±~2% after the three it would make anyway
    assert (
        reached.reached
        and reached.n == 3
        and reached.half_width == pytest.approx(mean_half_width([30.0, 30.3, 29.8]))
    )
    assert "within the asked ±5%" in reached.note()


def test_a_noisy_figure_repeats_up_to_the_cap_and_says_it_fell_short() -> None:
    reached, seqs = run([20.0, 40.0], first=3, asked=0.05, max_repeats=8)
    assert seqs == list(range(8))
    assert (
        not reached.reached
        and reached.n == 8
        and reached.half_width is not None
        and reached.half_width > 0.05
    )
    assert "after 8 repeats (--max-repeats 8), short of the asked ±5%" in reached.note()


def test_more_repeats_narrow_the_interval_until_it_holds() -> None:
    # alternating 28/32: ±~8% at n=3, within ±5% by n=6 or so; the loop stops at the first n that holds
    reached, seqs = run([28.0, 32.0], first=3, asked=0.05)
    assert reached.reached and 3 < reached.n < 20 and len(seqs) == reached.n
    values = [[28.0, 32.0][i % 2] for i in range(reached.n - 1)]
    assert (mean_half_width(values) or 1) > 0.05  # one fewer would not have held


def test_without_precision_the_count_is_the_repeat() -> None:
    reached, seqs = run([20.0, 40.0], first=4, asked=None)
    assert reached is None and seqs == [0, 1, 2, 3]


def test_failed_requests_do_not_count_as_values() -> None:
    reached, _ = run([None, 30.0, 30.1, 29.9], first=3, asked=0.05)
    assert reached.reached and reached.n == 4  # three values needed, one request failed


@pytest.mark.parametrize(("text", "value"), [("5%", 0.05), ("0.05", 0.05), (" 2.5% ", 0.025)])
def test_precision_parses(text: str, value: float) -> None:
    assert parse_precision(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "0%", "150%", "-5%"])
def test_bad_precision_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--precision"):
        parse_precision(text)
