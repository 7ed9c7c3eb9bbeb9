"""The lenient SSE parser and the byte-to-line splitter in front of it."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyno.client.sse import Data, Done, LineSplitter, Malformed, SSEParser, parse_lines

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
PAYLOADS = st.lists(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5), max_size=8)
# No per-example deadline: on a loaded shared machine one slow example is not a failure.
LOADED_MACHINE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOISE = st.sampled_from(
    [":", ": keep-alive", ":ping", "event: message", "event:chunk", "id: 7", "id:", "retry: 100"]
)


def sse_lines(payloads: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for p in payloads:
        lines += [f"data: {json.dumps(p)}", ""]
    return [*lines, "data: [DONE]", ""]


# ---- examples ---------------------------------------------------------------------------------


def test_a_vllm_stream_gives_its_chunks_then_done() -> None:
    events = parse_lines(
        [
            'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}',
            "",
            'data: {"choices":[{"delta":{"content":"Hi"}}]}',
            "",
            "data: [DONE]",
            "",
        ]
    )
    assert events == [
        Data({"choices": [{"delta": {"role": "assistant", "content": ""}}]}),
        Data({"choices": [{"delta": {"content": "Hi"}}]}),
        Done(),
    ]


def test_the_space_after_data_colon_is_optional_and_only_one_is_removed() -> None:
    assert parse_lines(['data:{"a":1}', "", 'data:  {"a":2}', ""]) == [Data({"a": 1}), Data({"a": 2})]


def test_crlf_line_endings_are_stripped() -> None:
    assert parse_lines(['data: {"a":1}\r\n', "\r\n", "data: [DONE]\r", ""]) == [Data({"a": 1}), Done()]


def test_several_data_lines_make_one_event_joined_by_newlines() -> None:
    assert parse_lines(['data: {"a":', "data: 1}", ""]) == [Data({"a": 1})]


def test_bad_json_is_malformed_with_its_reason() -> None:
    [ev] = parse_lines(["data: {'single': 'quotes'}", ""])
    assert isinstance(ev, Malformed)
    assert ev.reason.startswith("bad JSON")
    assert ev.raw == "{'single': 'quotes'}"


def test_a_json_object_cut_in_half_is_malformed() -> None:
    [ev] = parse_lines(['data: {"choices":[{"delta":{"cont', ""])
    assert isinstance(ev, Malformed) and ev.reason.startswith("bad JSON")


def test_json_that_is_not_an_object_is_malformed() -> None:
    [ev] = parse_lines(["data: [1, 2]", ""])
    assert isinstance(ev, Malformed) and "not a JSON object" in ev.reason


def test_a_json_line_without_its_data_prefix_is_named_as_such() -> None:
    # A JSON object has colons, so a naive partition would call it an unknown field '{"a"'.
    [ev] = parse_lines(['{"a": 1}', ""])
    assert isinstance(ev, Malformed) and "missing 'data:' prefix" in ev.reason


def test_an_unknown_field_is_malformed() -> None:
    [ev] = parse_lines(["dta: {}", ""])
    assert isinstance(ev, Malformed) and "unknown SSE field 'dta'" in ev.reason


def test_json_that_python_refuses_without_a_decode_error_is_malformed_not_raised() -> None:
    # json.loads raises ValueError (int > 4300 digits) and RecursionError (deep nesting)
    # besides JSONDecodeError; a hostile or broken server must not crash the run.
    for text in ["1" * 5000, "[" * 100_000, '{"a":' + "1" * 5000 + "}"]:
        [ev] = parse_lines([f"data: {text}", ""])
        assert isinstance(ev, Malformed) and ev.reason.startswith("bad JSON")


def test_a_truncated_final_event_still_counts_on_close() -> None:
    p = SSEParser()
    assert list(p.feed('data: {"a": 1}')) == []
    assert list(p.close()) == [Data({"a": 1})]
    assert list(p.close()) == []  # and only once


def test_done_without_its_blank_line_counts_on_close() -> None:
    assert parse_lines(['data: {"a": 1}', "", "data: [DONE]"]) == [Data({"a": 1}), Done()]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert parse_lines(["", "", ": keep-alive", "", "event: x", ""]) == []


# ---- properties -------------------------------------------------------------------------------


@LOADED_MACHINE
@given(PAYLOADS)
def test_json_object_payloads_round_trip_in_order_then_done(payloads: list[dict[str, Any]]) -> None:
    assert parse_lines(sse_lines(payloads)) == [*(Data(p) for p in payloads), Done()]


@LOADED_MACHINE
@given(st.lists(st.text(), max_size=30))
def test_arbitrary_lines_never_raise_and_yield_only_events(lines: list[str]) -> None:
    for ev in parse_lines(lines):
        assert isinstance(ev, Data | Done | Malformed)


@LOADED_MACHINE
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), max_size=20))
def test_arbitrary_data_values_never_raise(values: list[str]) -> None:
    lines = [line for v in values for line in (f"data: {v}", "")]
    for ev in parse_lines(lines):
        assert isinstance(ev, Data | Done | Malformed)


@st.composite
def noisy_stream(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[str]]:
    """A valid stream re-split: each payload's JSON over several `data:` lines, with noise lines between."""
    payloads = draw(PAYLOADS)
    lines: list[str] = []
    for p in payloads:
        # indent=1 puts newlines only between JSON tokens; a data line cannot hold one, so
        # each newline either starts a new `data:` line (joined back with "\n") or becomes a space.
        pieces = json.dumps(p, indent=1).split("\n")
        segment = pieces[0]
        for piece in pieces[1:]:
            if draw(st.booleans()):
                lines.append(draw(st.sampled_from(["data: ", "data:"])) + segment)
                lines += draw(st.lists(NOISE, max_size=2))
                segment = piece
            else:
                segment += " " + piece
        lines.append(draw(st.sampled_from(["data: ", "data:"])) + segment)
        lines += draw(st.lists(NOISE, max_size=2))
        lines.append(draw(st.sampled_from(["", "\r"])))
        lines += draw(st.lists(st.sampled_from(["", ": keep-alive"]), max_size=2))
    lines += ["data: [DONE]", ""]
    return payloads, lines


@LOADED_MACHINE
@given(noisy_stream())
def test_resplitting_and_interleaved_comments_do_not_change_the_data(
    case: tuple[list[dict[str, Any]], list[str]],
) -> None:
    payloads, lines = case
    assert parse_lines(lines) == [*(Data(p) for p in payloads), Done()]


# ---- LineSplitter -----------------------------------------------------------------------------


def split_all(parts: list[bytes]) -> list[str]:
    s = LineSplitter()
    out: list[str] = []
    for part in parts:
        out += s.feed(part)
    return out + s.close()


def test_lines_end_only_at_cr_lf_or_crlf_not_at_unicode_separators() -> None:
    # U+2028 / U+2029 / NEL are legal unescaped inside JSON strings (pydantic, so vLLM, leaves
    # them raw); str.splitlines() - and so httpx's aiter_lines - would cut the event there.
    text = 'data: {"t":"a\u2028b\u2029c\x85d"}\n\ndata: [DONE]\r\n\r\n'
    assert split_all([text.encode()]) == ['data: {"t":"a\u2028b\u2029c\x85d"}', "", "data: [DONE]", ""]


def test_a_cr_at_the_end_of_one_read_and_lf_at_the_start_of_the_next_are_one_line_end() -> None:
    assert split_all([b"a\r", b"\nb\r", b"c\n"]) == ["a", "b", "c"]


def test_an_unterminated_last_line_comes_out_on_close() -> None:
    assert split_all([b"data: x\n", b"data: y"]) == ["data: x", "data: y"]


def split_points(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(data)), max_size=12).map(sorted)


@LOADED_MACHINE
@given(
    st.lists(
        st.tuples(
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12),
            st.sampled_from(["\n", "\r\n", "\r"]),
        ),
        max_size=10,
    ),
    st.data(),
)
def test_any_split_of_the_bytes_gives_the_lines_of_the_whole(
    lines: list[tuple[str, str]], data: st.DataObject
) -> None:
    text = "".join(line + end for line, end in lines)
    # The reference: the whole text split at CRLF, CR or LF (a CR then an LF is one end).
    expected = re.split(r"\r\n|\r|\n", text)
    if text:
        expected.pop()  # the text ends with a line end: nothing after it
    else:
        expected = []
    raw = text.encode()
    cuts = data.draw(split_points(raw))
    parts = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert split_all(parts) == expected
