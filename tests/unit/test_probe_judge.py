"""Each check's decision on recorded responses (messages as vLLM 0.32 sent them here)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from dyno.client.records import RequestRecord
from dyno.metrics.vllm import SpecDecodeDelta
from dyno.probe.identity import (
    OVERFLOW,
    CanaryPair,
    identity_headers,
    judge_identity,
    overflow_prompt,
)
from dyno.probe.judge import (
    degenerate,
    judge_chat,
    judge_exposure,
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


@pytest.mark.parametrize(
    ("engine", "error", "says", "not_says"),
    [
        (
            "ollama",
            "registry.ollama.ai/library/gemma:2b does not support tools",
            "ollama show",
            "--tool-call-parser",
        ),
        ("llama.cpp", "tools param requires --jinja flag", "--jinja", "--tool-call-parser"),
        ("vllm", NO_TOOLS, "--tool-call-parser hermes", "--jinja"),
    ],
)
def test_the_fix_for_refused_tools_is_in_the_refusing_engines_words(
    engine: str, error: str, says: str, not_says: str
) -> None:
    r = judge_tools(
        rec(status=400, kind="http_4xx", error=error),
        None,
        None,
        WEATHER_TOOL,
        expect=False,
        parser_hint="hermes",
        engine=engine,
    )
    assert r.status == "fail" and says in r.fix and not_says not in r.fix


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


# As vLLM 0.32 and LiteLLM 1.108.7 sent them here.
OVERFLOWED = (
    '{"object":"error","message":"This model\'s maximum context length is 2048 tokens. However, you '
    "requested 3080 tokens (3072 in the messages, 8 in the completion). Please reduce the length of the "
    'messages or completion.","type":"BadRequestError","param":null,"code":400}'
)
LITELLM_OVERFLOWED = (
    '{"error":{"message":"litellm.ContextWindowExceededError: litellm.BadRequestError: '
    "ContextWindowExceededError: Hosted_vllmException - This model's maximum context length is 2048 "
    'tokens.","type":null,"param":null,"code":"400"}}'
)
LITELLM_UNKNOWN_MODEL = (
    '{"error":{"message":"/chat/completions: Invalid model name passed in model=gemma4. Call `/v1/models` '
    'to view available models for your key.","type":"invalid_request_error","param":null,"code":"400"}}'
)


def litellm_headers(group: str, fallbacks: int, api_base: str) -> dict[str, str]:
    return {
        "x-litellm-call-id": "848ca6d9-a834-4f7f-8593-7f79349ce1dd",
        "x-litellm-model-id": "d79aff4d0b2f9901",
        "x-litellm-model-name": "hosted_vllm/smollm2",
        "x-litellm-model-api-base": api_base,
        "x-litellm-response-duration-ms": "854.0",
        "x-litellm-key-spend": "0.0",
        "x-litellm-model-group": group,
        "x-litellm-attempted-retries": "0",
        "x-litellm-attempted-fallbacks": str(fallbacks),
    }


def pair(
    name: str,
    direct: RequestRecord,
    routed: RequestRecord,
    *,
    engine: str = "m",
    asked: str = "m",
    headers: dict[str, str] | None = None,
) -> CanaryPair:
    """A canary as the runner records it: each side carries the model name it was sent with."""
    return CanaryPair(
        name,
        replace(direct, params={"model": engine}),
        replace(routed, params={"model": asked}, response_headers=headers or {}),
    )


def test_identity() -> None:
    same = [pair("a", rec("Rome"), rec("Rome")), pair("b", rec("1 2 3"), rec("1 2 3"))]
    assert judge_identity(same).status == "pass"
    # A router that falls back after a 400 and reports the requested model name:
    fell_back = [
        *same,
        pair("tools-auto", rec(status=400, kind="http_4xx", error=NO_TOOLS), rec("Paris is sunny")),
    ]
    r = judge_identity(fell_back)
    assert r.status == "fail" and r.facts["diverged"] == ["tools-auto"]
    assert "reports the same model name" in r.evidence
    assert "tools-auto: the engine refused it (HTTP 400" in r.evidence
    assert "--enable-auto-tool-choice" in r.fix
    other_model = [pair("a", rec("Rome", model="m"), rec("Rome", model="other"))]
    assert judge_identity(other_model).status == "warn"
    # Both refusing is the router passing the refusal on, in its own words or not.
    passed_on = [
        *same,
        pair(
            OVERFLOW,
            rec(status=400, kind="http_4xx", error=OVERFLOWED),
            rec(status=400, kind="http_4xx", error=LITELLM_OVERFLOWED),
        ),
    ]
    assert judge_identity(passed_on).status == "pass"


def test_identity_through_an_alias() -> None:
    def alias(routed_model: str) -> list[CanaryPair]:
        return [
            pair(n, rec(t, model="smollm2"), rec(t, model=routed_model), engine="smollm2", asked="gemma4")
            for n, t in (("capital", "Rome"), ("count", "one, two"))
        ]

    r = judge_identity(alias("gemma4"), 2048)
    assert r.status == "pass", r.evidence
    assert "direct as 'smollm2', through the router as 'gemma4'" in r.evidence
    assert r.facts["direct_model"] == "smollm2" and r.facts["via_model"] == "gemma4"
    # The provider-prefixed deployment name is the same model; a third name is not.
    assert judge_identity(alias("hosted_vllm/smollm2")).status == "pass"
    odd = judge_identity(alias("backup"))
    assert odd.status == "warn" and "['backup']" in odd.evidence
    # No overflow canary: the evidence says why.
    assert "context is unknown" in judge_identity(alias("gemma4")).evidence
    assert "131072 tokens, is over 32768" in judge_identity(alias("gemma4"), 131072).evidence
    # A router that does not know the alias refuses what the engine answers: a fail that says how to fix it.
    unknown = [
        pair(
            "capital",
            rec("Rome"),
            rec(status=400, kind="http_4xx", error=LITELLM_UNKNOWN_MODEL),
            asked="gemma4",
        )
    ]
    r = judge_identity(unknown)
    assert r.status == "fail" and r.facts["router_refused"] == ["capital"]
    assert "Invalid model name passed in model=gemma4" in r.evidence and "--via-model" in r.fix


def test_identity_context_overflow_answered_by_the_router_is_a_fallback() -> None:
    same = [
        pair(
            "capital",
            rec("Rome", model="smollm2"),
            rec("Rome", model="gemma4"),
            engine="smollm2",
            asked="gemma4",
        )
    ]
    refused = rec(status=400, kind="http_4xx", error=OVERFLOWED)
    answered = rec(" tok0 tok1 tok2", model="backup")
    r = judge_identity([*same, pair(OVERFLOW, refused, answered, engine="smollm2", asked="gemma4")], 2048)
    assert r.status == "fail"
    assert r.facts["fell_back"] == [OVERFLOW] and r.facts["diverged"] == [OVERFLOW]
    assert (
        "context-overflow: the engine refused it (HTTP 400: This model's maximum context length is 2048"
        in r.evidence
    )
    assert "answered 200" in r.evidence and "'backup'" in r.evidence
    assert "context_window_fallbacks" in r.fix
    # The engine answering 400 and the router 400 too is a pass (it passed the refusal on).
    routed_400 = rec(status=400, kind="http_4xx", error=LITELLM_OVERFLOWED)
    ok = judge_identity([*same, pair(OVERFLOW, refused, routed_400, engine="smollm2", asked="gemma4")], 2048)
    assert ok.status == "pass", ok.evidence


def test_identity_reads_litellms_fallback_headers() -> None:
    engine_base, backup_base = "http://127.0.0.1:8000/v1", "http://127.0.0.1:9000/v1"
    direct = rec("Rome", model="smollm2")

    def via(headers: dict[str, str], text: str = "Rome") -> list[CanaryPair]:
        return [
            pair(
                "capital",
                direct,
                rec(text, model="gemma4"),
                engine="smollm2",
                asked="gemma4",
                headers=headers,
            )
        ]

    assert judge_identity(via(litellm_headers("gemma4", 0, engine_base))).status == "pass"
    # The same answer from another deployment after a fallback: the headers are the only witness.
    r = judge_identity(via(litellm_headers("backup", 1, backup_base)))
    assert r.status == "warn" and r.facts["headers_only"] == ["capital"]
    assert "x-litellm-attempted-fallbacks: 1" in r.evidence and "model group 'backup'" in r.evidence
    assert backup_base in r.evidence
    # A different answer, and the headers say why.
    r = judge_identity(via(litellm_headers("backup", 1, backup_base), text=" tok0 tok1"))
    assert r.status == "fail" and "the router's headers say x-litellm-attempted-fallbacks: 1" in r.evidence
    assert r.facts["routed_headers"]["capital"]["x-litellm-model-group"] == "backup"


def test_overflow_prompt_is_over_the_context_and_no_bigger_than_it_needs() -> None:
    assert overflow_prompt(None) is None
    assert overflow_prompt(131072) is None  # a fallback model would prefill all of it
    for context in (2048, 8192):
        words = (overflow_prompt(context) or "").split()
        # one token at least per word in any tokenizer; 1.5x leaves room for a chat template
        assert len(words) >= 1.5 * context
        assert len(" ".join(words)) <= 4 * context


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
    # Who answered, yes; LiteLLM's per-request bookkeeping (cost, spend, timings, ids), no.
    assert identity_headers(litellm_headers("gemma4", 0, "http://127.0.0.1:8000/v1")) == {
        "x-litellm-model-id": "d79aff4d0b2f9901",
        "x-litellm-model-name": "hosted_vllm/smollm2",
        "x-litellm-model-api-base": "http://127.0.0.1:8000/v1",
        "x-litellm-model-group": "gemma4",
        "x-litellm-attempted-retries": "0",
        "x-litellm-attempted-fallbacks": "0",
    }


def test_identity_with_nothing_listening_at_the_router_says_so() -> None:
    # Seen: a LiteLLM proxy that refused to start without its master key; dyno blamed the name or key.
    down = rec(status=0, kind="connect", error="ConnectError: [Errno 111] Connection refused")
    pairs = [pair("a", rec("Rome"), down), pair("b", rec("1 2 3"), down)]
    r = judge_identity(pairs, via_url="http://127.0.0.1:4000")
    assert r.status == "fail"
    assert (
        "the router is not reachable at http://127.0.0.1:4000: 2 of 2 canaries could not connect"
        in r.evidence
    )
    assert "Connection refused" in r.evidence and "--via-model" not in r.fix and "start the router" in r.fix
