"""Each check's decision on recorded responses (messages as vLLM 0.32 sent them here)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dyno.client.records import RequestRecord
from dyno.metrics.vllm import SpecDecodeDelta
from dyno.probe.judge import (
    CanaryPair,
    degenerate,
    identity_headers,
    judge_chat,
    judge_exposure,
    judge_identity,
    judge_reasoning,
    judge_spec,
    judge_streaming,
    judge_tools,
    tool_call_problems,
)
from dyno.workloads.prompts import WEATHER_TOOL

NO_TEMPLATE = (
    '{"error":{"message":"As of transformers v4.44, default chat template is no longer allowed, so you '
    'must provide a chat template if the tokenizer does not define one.","type":"BadRequestError",'
    '"param":null,"code":400}}'
)
NO_TOOLS = (
    '{"error":{"message":"\\"auto\\" tool choice requires --enable-auto-tool-choice and '
    '--tool-call-parser to be set","type":"BadRequestError","param":null,"code":400}}'
)


def rec(
    text: str = "",
    *,
    status: int = 200,
    error: str | None = None,
    kind: str | None = None,
    tools: tuple[dict[str, Any], ...] = (),
    reasoning: str = "",
    tokens: int | None = 10,
    model: str = "m",
) -> RequestRecord:
    return RequestRecord(
        scenario="c",
        label="",
        seq=0,
        params={},
        t_sent_ns=0,
        output_text=text,
        reasoning_text=reasoning,
        tool_calls=tools,
        http_status=status,
        error_kind=kind,
        error_message=error,
        output_tokens=tokens,
        response_model=model,
    )


def call(name: str, args: Any) -> dict[str, Any]:
    return {"id": "c1", "name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}


def test_chat_pass_and_base_model() -> None:
    assert judge_chat(rec("The sky is blue on a clear day.")).status == "pass"
    base = judge_chat(rec(status=400, kind="http_4xx", error=NO_TEMPLATE))
    assert base.status == "fail" and base.facts["base_model"]
    assert "base model" in base.fix and "-it drafter" in base.fix


@pytest.mark.parametrize(
    "text",
    [
        "",
        "the the the the the the the the the the",
        "!!!!!!!!!!!!!!!!!!!!",
        "of France of France of France of France of France of France of France",
    ],
)
def test_degenerate_output_fails_chat(text: str) -> None:
    assert degenerate(text) is not None
    r = judge_chat(rec(text))
    assert r.status == "fail" and "-it drafter" in r.fix


def test_plausible_text_is_not_degenerate() -> None:
    assert degenerate("Paris is the capital of France, and the Seine runs through it.") is None


def test_tools_not_enabled_is_a_fail_with_the_flags() -> None:
    r = judge_tools(
        rec(status=400, kind="http_4xx", error=NO_TOOLS),
        None,
        None,
        WEATHER_TOOL,
        expect=False,
        parser_hint="hermes",
    )
    assert r.status == "fail" and r.facts["enabled"] is False
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in r.fix
    assert '"auto" tool choice requires' in r.evidence


def test_valid_calls_pass_and_poor_ones_warn_or_fail_when_expected() -> None:
    good = rec(tools=(call("get_weather", {"city": "Paris"}),))
    assert judge_tools(good, good, good, WEATHER_TOOL, expect=True, parser_hint="hermes").status == "pass"
    bad = rec(tools=(call("get_weather", {"place": "Paris"}),))
    none = rec("It is sunny.")
    assert judge_tools(none, bad, bad, WEATHER_TOOL, expect=False, parser_hint="x").status == "warn"
    assert judge_tools(none, bad, bad, WEATHER_TOOL, expect=True, parser_hint="x").status == "fail"


def test_tool_call_problems() -> None:
    assert (
        tool_call_problems((call("get_weather", {"city": "Paris", "unit": "celsius"}),), WEATHER_TOOL) == []
    )
    assert tool_call_problems((), WEATHER_TOOL) == ["no tool call came back"]
    assert "called 'get_time'" in tool_call_problems((call("get_time", {"city": "x"}),), WEATHER_TOOL)[0]
    assert "not JSON" in tool_call_problems((call("get_weather", "{city: Paris"),), WEATHER_TOOL)[0]
    probs = tool_call_problems((call("get_weather", {"city": "P", "unit": "kelvin"}),), WEATHER_TOOL)
    assert probs and "schema" in probs[0]


def test_reasoning() -> None:
    assert judge_reasoning(rec("391", reasoning="17*23 = 391"), expect=True).status == "pass"
    leak = judge_reasoning(rec("<think>17*23</think> 391", reasoning="17*23"), expect=False)
    assert leak.status == "fail"
    assert judge_reasoning(rec("<think>17*23</think> 391"), expect=False).status == "warn"
    assert judge_reasoning(rec("391"), expect=False).status == "skipped"
    assert judge_reasoning(rec("391"), expect=True).status == "fail"


def test_spec() -> None:
    assert judge_spec(None, expect=False).status == "skipped"
    assert judge_spec(None, expect=True).status == "fail"
    assert judge_spec(SpecDecodeDelta(0, 0, 0, ()), expect=False).status == "skipped"
    good = judge_spec(SpecDecodeDelta(10, 40, 28, (9, 7, 6, 6)), expect=True)
    assert good.status == "pass" and good.facts["mean_acceptance_length"] == pytest.approx(3.8)
    low = judge_spec(SpecDecodeDelta(10, 40, 2, (2, 0, 0, 0)), expect=True)
    assert low.status == "warn" and "base target" in low.fix


def test_streaming() -> None:
    assert judge_streaming(rec("x", tokens=24), 24).status == "pass"
    assert judge_streaming(rec("x", tokens=None), 24).status == "fail"
    assert judge_streaming(rec("x", tokens=24), 40).status == "warn"
    assert judge_streaming(rec("x", tokens=24), None).status == "pass"


def test_identity() -> None:
    same = [CanaryPair("a", rec("Rome"), rec("Rome")), CanaryPair("b", rec("1 2 3"), rec("1 2 3"))]
    assert judge_identity(same, {}, {}).status == "pass"
    # A router that falls back after a 400 and reports the requested model name:
    fell_back = [
        *same,
        CanaryPair("tools-auto", rec(status=400, kind="http_4xx", error=NO_TOOLS), rec("Paris is sunny")),
    ]
    r = judge_identity(fell_back, {}, {"x-fixture-router": "fallback"})
    assert r.status == "fail" and r.facts["diverged"] == ["tools-auto"]
    assert "reports the same model name" in r.evidence
    other_model = [CanaryPair("a", rec("Rome", model="m"), rec("Rome", model="other"))]
    assert judge_identity(other_model, {}, {}).status == "warn"


def test_exposure() -> None:
    assert judge_exposure("127.0.0.1", ["127.0.0.1"], False).status == "pass"
    assert judge_exposure("127.0.0.1", ["0.0.0.0"], False).status == "fail"
    assert judge_exposure("127.0.0.1", ["0.0.0.0"], True).status == "pass"
    assert judge_exposure("10.1.2.3", [], False).status == "fail"
    assert judge_exposure("10.1.2.3", [], None).status == "warn"  # could not tell
    assert judge_exposure("localhost", [], None).status == "pass"


def test_identity_headers_never_keep_credentials() -> None:
    h = identity_headers(
        {
            "X-LiteLLM-Model-Id": "abc",
            "Authorization": "Bearer s",
            "x-api-key-model": "k",
            "server": "uvicorn",
            "date": "today",
        }
    )
    assert h == {"x-litellm-model-id": "abc", "server": "uvicorn"}
