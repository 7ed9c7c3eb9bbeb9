"""Where two greedy outputs part ways."""

from __future__ import annotations

from dyno.verify.divergence import first_divergence


def test_identical_texts_have_no_divergence() -> None:
    assert first_divergence("same text", "same text") is None
    assert first_divergence("", "") is None


def test_divergence_inside_a_word_belongs_to_that_word() -> None:
    d = first_divergence("The cat sat on the mat.", "The cat sat on the hat.")
    assert d is not None
    assert d.char_index == 19
    assert d.word_index == 5  # "mat." vs "hat.": words 0..4 are The cat sat on the
    assert d.common_context == "The cat sat on the "
    assert (d.candidate_tail, d.baseline_tail) == ("mat.", "hat.")


def test_divergence_mid_word_after_a_shared_start() -> None:
    d = first_divergence("def fold(xs):", "def foo(xs):")
    assert d is not None
    assert d.char_index == 6 and d.word_index == 1  # "fold(xs):" vs "foo(xs):", both word 1
    assert (d.candidate_tail, d.baseline_tail) == ("ld(xs):", "o(xs):")


def test_one_side_stopping_early_diverges_at_the_shorter_length() -> None:
    d = first_divergence("one two three", "one two")
    assert d is not None
    assert d.char_index == 7 and d.word_index == 1  # still inside "two" by characters
    assert d.candidate_tail == " three" and d.baseline_tail == ""
    assert (d.candidate_chars, d.baseline_chars) == (13, 7)


def test_divergence_at_the_first_character() -> None:
    d = first_divergence("Yes.", "No.")
    assert d is not None
    assert (d.char_index, d.word_index, d.common_context) == (0, 0, "")


def test_context_and_tails_are_bounded() -> None:
    shared = "x" * 100 + " "
    d = first_divergence(shared + "a" * 200, shared + "b" * 200, context_chars=40, tail_chars=80)
    assert d is not None
    assert d.char_index == 101 and d.word_index == 1
    assert d.common_context == shared[-40:]
    assert d.candidate_tail == "a" * 80 and d.baseline_tail == "b" * 80


def test_whitespace_only_difference_is_found() -> None:
    d = first_divergence("a  b", "a b")
    assert d is not None and d.char_index == 2 and d.word_index == 1
