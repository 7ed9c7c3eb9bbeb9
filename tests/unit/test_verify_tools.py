"""Tool-call validity on recorded responses, and the bundled verify sets themselves."""

from __future__ import annotations

import json
from decimal import Decimal

import jsonschema
import pytest

from dyno.client.toolcheck import check_tool_call
from dyno.verify.suites import parse_suites, plan_suites
from dyno.workloads.verify_sets import LOSSLESS_PROMPTS, MATH_PROBLEMS, TOOL_TASKS, ToolTask

TASKS = {t.id: t for t in TOOL_TASKS}

# What StreamClient accumulated from vLLM's hermes parser (id, name, arguments text), as recorded.
RECORDED = {
    "good": (
        {
            "id": "chatcmpl-tool-5f1",
            "name": "get_weather",
            "arguments": '{"city": "Tokyo", "unit": "celsius"}',
        },
    ),
    "minimal": ({"id": "chatcmpl-tool-5f2", "name": "get_weather", "arguments": '{"city": "Tokyo"}'},),
    "bad_enum": (
        {
            "id": "chatcmpl-tool-5f3",
            "name": "get_weather",
            "arguments": '{"city": "Tokyo", "unit": "kelvin"}',
        },
    ),
    "missing": ({"id": "chatcmpl-tool-5f4", "name": "get_weather", "arguments": '{"unit": "celsius"}'},),
    "wrong_type": ({"id": "chatcmpl-tool-5f5", "name": "get_weather", "arguments": '{"city": 42}'},),
    "truncated": ({"id": "chatcmpl-tool-5f6", "name": "get_weather", "arguments": '{"city": "Tok'},),
    "list_args": ({"id": "chatcmpl-tool-5f7", "name": "get_weather", "arguments": '["Tokyo"]'},),
    "empty_args": ({"id": "chatcmpl-tool-5f8", "name": "get_weather", "arguments": ""},),
    "wrong_fn": ({"id": "chatcmpl-tool-5f9", "name": "get_time", "arguments": '{"city": "Tokyo"}'},),
    "second_right": (
        {"id": "a", "name": "get_time", "arguments": '{"city": "Tokyo"}'},
        {"id": "b", "name": "get_weather", "arguments": '{"city": "Tokyo"}'},
    ),
}


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("good", "ok"),
        ("minimal", "ok"),
        ("bad_enum", "schema_invalid"),
        ("missing", "schema_invalid"),
        ("wrong_type", "schema_invalid"),
        ("truncated", "unparsable_arguments"),
        ("list_args", "unparsable_arguments"),
        ("empty_args", "unparsable_arguments"),
        ("wrong_fn", "wrong_function"),
        ("second_right", "wrong_function"),  # judged on the first call, what an agent runs first
    ],
)
def test_recorded_tool_calls(key: str, reason: str) -> None:
    t = TASKS["tool-01"]
    v = check_tool_call(RECORDED[key], expected_function=t.expected_function, schema=t.arguments_schema)
    assert v.reason == reason
    assert v.valid is (reason == "ok")
    assert (v.detail == "") is (reason == "ok")
    assert v.function == RECORDED[key][0]["name"]


def test_schema_detail_names_the_field() -> None:
    t = TASKS["tool-01"]
    v = check_tool_call(RECORDED["wrong_type"], expected_function="get_weather", schema=t.arguments_schema)
    assert v.detail == "city: 42 is not of type 'string'"


def test_no_call_and_failed_request() -> None:
    t = TASKS["tool-01"]
    v = check_tool_call(
        (), expected_function="get_weather", schema=t.arguments_schema, content="<tool_call> {..."
    )
    assert v.reason == "no_tool_call" and "<tool_call>" in v.detail
    v = check_tool_call(
        (), expected_function="get_weather", schema=t.arguments_schema, error="http_4xx: tool choice requires"
    )
    assert v.reason == "request_failed" and "http_4xx" in v.detail


def test_invented_argument_breaks_a_strict_schema() -> None:
    t = TASKS["tool-07"]
    calls = ({"name": "set_timer", "arguments": json.dumps({"minutes": 12, "label": "tea"})},)
    assert (
        check_tool_call(calls, expected_function="set_timer", schema=t.arguments_schema).reason
        == "schema_invalid"
    )
    calls = ({"name": "set_timer", "arguments": json.dumps({"minutes": 12.5})},)
    assert (
        check_tool_call(calls, expected_function="set_timer", schema=t.arguments_schema).reason
        == "schema_invalid"
    )


# ---- the bundled sets -------------------------------------------------------------------------


def test_set_sizes_and_unique_ids() -> None:
    assert len(LOSSLESS_PROMPTS) == 40 and len(MATH_PROBLEMS) == 50 and len(TOOL_TASKS) == 10
    for items in (LOSSLESS_PROMPTS, MATH_PROBLEMS, TOOL_TASKS):
        ids = [i.id for i in items]
        assert len(set(ids)) == len(ids)
    assert {p.content_type for p in LOSSLESS_PROMPTS} == {"code", "prose", "json"}
    assert len({p.prompt for p in LOSSLESS_PROMPTS}) == 40


def test_a_limit_still_covers_every_content_type() -> None:
    assert {p.content_type for p in LOSSLESS_PROMPTS[:3]} == {"code", "prose", "json"}


def test_math_answers_are_plain_decimals() -> None:
    for m in MATH_PROBLEMS:
        assert str(Decimal(m.answer)) == m.answer, m.id


@pytest.mark.parametrize("task", TOOL_TASKS, ids=lambda t: t.id)
def test_tool_tasks_are_well_formed(task: ToolTask) -> None:
    names = [t["function"]["name"] for t in task.tools]
    assert task.expected_function in names and len(names) >= 2  # a wrong function is possible
    for tool in task.tools:
        jsonschema.validators.validator_for(tool["function"]["parameters"]).check_schema(
            tool["function"]["parameters"]
        )


def test_parse_suites() -> None:
    assert parse_suites("all") == ("lossless", "math", "tools")
    assert parse_suites("tools, lossless") == ("lossless", "tools")
    from dyno.errors import UsageError

    with pytest.raises(UsageError, match="--suite takes"):
        parse_suites("speed")


def test_plans_store_what_the_report_needs_and_requests_are_greedy() -> None:
    plans = {p.name: p for p in plan_suites(("lossless", "math", "tools"), limit=3, lossless_max_tokens=48)}
    assert [len(p.items) for p in plans.values()] == [3, 3, 3]
    lossless = plans["lossless"].request("m", 0)
    assert lossless.max_tokens == 48 and lossless.temperature == 0.0 and lossless.seed is not None
    assert lossless.messages[0]["content"] == LOSSLESS_PROMPTS[0].prompt and not lossless.tools
    math = plans["math"].request("m", 2)
    assert (
        MATH_PROBLEMS[2].question in math.messages[0]["content"] and "Answer:" in math.messages[0]["content"]
    )
    assert plans["math"].config()["items"][2]["answer"] == MATH_PROBLEMS[2].answer
    tools = plans["tools"].request("m", 1)
    assert tools.tools == TOOL_TASKS[1].tools and tools.tool_choice == "auto"
    cfg = json.loads(json.dumps(plans["tools"].config()))  # what the store keeps round-trips
    assert cfg["items"][1]["expected_function"] == "get_time"


def test_an_agent_call_is_judged_against_the_offered_tool_it_names() -> None:
    from dyno.client.toolcheck import judge_offered_call
    from dyno.workloads.prompts import TOOLS

    assert judge_offered_call([{"name": "get_time", "arguments": '{"city": "Oslo"}'}], TOOLS).valid
    bad = judge_offered_call([{"name": "get_time", "arguments": '{"town": "Oslo"}'}], TOOLS)
    assert bad.reason == "schema_invalid"
    other = judge_offered_call([{"name": "send_mail", "arguments": "{}"}], TOOLS)
    assert other.reason == "wrong_function" and "'get_weather', 'get_time'" in other.detail
    assert judge_offered_call([], TOOLS).reason == "no_tool_call"
