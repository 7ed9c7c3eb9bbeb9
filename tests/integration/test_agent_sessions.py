"""Agent sessions against the pacing server with tool calling on: it answers a request that offers
tools with a call of the first one (arguments as configured) and, after a tool result, with words
that open with the request's id, so every message dyno sends back can be traced to the reply it
came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dyno.bench import suites
from dyno.bench.runner import run_bench
from dyno.bench.scenario import Scenario
from dyno.bench.scenarios.sessions import AgentSessions, Sessions
from dyno.bench.summary import summarize_run
from dyno.engine.target import TargetSpec
from dyno.settings import Settings
from dyno.store import Store
from dyno.workloads.prompts import AGENT_CITIES
from dyno.workloads.sessions import SessionSpec
from dyno.workloads.shapes import Lengths
from tests.fixtures.pacing import StartPacing


def agent(sessions: int, turns: int, result_tokens: int, tool_choice: str = "auto") -> AgentSessions:
    return AgentSessions(
        spec=SessionSpec(sessions, Lengths("fixed", turns)),
        tool_result_tokens=Lengths("fixed", result_tokens),
        output_tokens=Lengths("fixed", 8),
        tool_choice=tool_choice,
    )


def run(url: str, sc: Sessions) -> tuple[Any, dict[str, dict[str, float | None]], list[str], str]:
    s = Settings.from_env()
    with Store(s.db_path) as store:
        result = run_bench(s, store, [sc], TargetSpec(url), suite="agent")
        (summary,) = summarize_run(store, result.run_id).scenarios
    figures: dict[str, dict[str, float | None]] = {}
    for r in summary.rows:
        figures.setdefault(r.metric, {})[r.label] = r.mean
    return result, figures, list(summary.notes), summary.status


def test_tool_calls_are_answered_with_results_of_the_asked_size_and_sent_back(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, tool_calls=True, tag_words=True)
    result, figures, notes, status = run(srv.url, agent(3, 4, 40))
    assert result.passed and status == "complete"
    bodies = [r.body for r in srv.sent_log if r.body.get("tools")]
    assert len(bodies) == 12  # 3 sessions x 4 turns, warmup aside
    assert all(len(b["tools"]) == 2 and b["tool_choice"] == "auto" for b in bodies)
    calls_issued = {f"call-{r.id}" for r in srv.sent_log if r.body.get("tools")}
    replies = {r.id for r in srv.sent_log}
    tool_turns = user_turns = 0
    for b in bodies:
        msgs = b["messages"]
        last = msgs[-1]
        if last["role"] == "tool":
            tool_turns += 1
            asked = msgs[-2]
            assert asked["role"] == "assistant" and asked["tool_calls"][0]["id"] == last["tool_call_id"]
            assert last["tool_call_id"] in calls_issued  # the id the server gave its call
            assert asked["tool_calls"][0]["function"] == {
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            }
            # the fixture's tokenizer is a word a token: the result is the size asked, within the
            # calibration's few tokens
            assert abs(len(last["content"].split()) - 40) <= 3
        else:
            user_turns += 1
            assert last["role"] == "user" and any(c in last["content"] for c in AGENT_CITIES)
            if len(msgs) > 1:  # the reply after a tool result comes back verbatim, then a new task
                reply = msgs[-2]
                assert reply["role"] == "assistant" and "tool_calls" not in reply
                assert reply["content"].split()[0] in replies
    # t1 a task -> a call; t2 its result -> words; t3 a new task -> a call; t4 its result -> words
    assert tool_turns == user_turns == 6
    assert figures["tool_call_rate"] == {"t1": 1.0, "t2": 0.0, "t3": 1.0, "t4": 0.0, "all": 0.5}
    assert figures["valid_tool_calls"] == {"t1": 1.0, "t3": 1.0, "all": 1.0}
    # a tool result grows the prompt by its size: t2 carries t1's task, the call and the result
    prompt = figures["prompt_tokens"]
    assert (prompt["t2"] or 0) >= (prompt["t1"] or 0) + 40
    assert {"user turns", "tool-result turns"} <= set(figures["ttft_ms"])
    assert not any("invalid" in n for n in notes)


def test_an_invalid_call_is_judged_and_answered_with_its_error(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, tool_calls=True, tool_arguments='{"unit": "kelvin"}')
    result, figures, notes, _ = run(srv.url, agent(2, 2, 40, tool_choice="required"))
    assert result.passed
    assert figures["valid_tool_calls"] == {"t1": 0.0, "all": 0.0}
    (note,) = [n for n in notes if "invalid" in n]
    assert "2 of 2 tool calls invalid (schema_invalid 2" in note
    answered = [
        r.body["messages"][-1] for r in srv.sent_log if r.body.get("messages", [{}])[-1].get("role") == "tool"
    ]
    assert len(answered) == 2
    assert all("required property" in json.loads(m["content"])["error"] for m in answered)
    # a task turn must call a tool; the turn after a result may answer in words
    choices = {
        r.body["messages"][-1]["role"]: r.body["tool_choice"] for r in srv.sent_log if r.body.get("tools")
    }
    assert choices == {"user": "required", "tool": "auto"}


def test_a_server_without_tool_calling_gets_the_flags_to_add_not_a_failed_run(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, reject_tools_auto=True)
    result, _, notes, status = run(srv.url, agent(3, 4, 40))
    assert status == "skipped"
    assert any(
        "tool calling not enabled" in n and "--enable-auto-tool-choice --tool-call-parser" in n for n in notes
    )
    assert result.passed, result.message  # the 400s are the finding, forgiven: not failed requests
    # each user's first turn was refused; none went on to a second
    assert sum(1 for r in srv.sent_log if r.body.get("tools")) == 3


def test_a_suite_names_chat_sessions_and_agent_sessions_apart(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server(ttft_s=0.002, itl_s=0.001, tool_calls=True)
    chosen: list[Scenario] = suites.select("standard", ["sessions", "agent"])
    assert [type(s) for s in chosen] == [Sessions, AgentSessions]
    s = Settings.from_env()
    with Store(s.db_path) as store:
        result = run_bench(s, store, chosen, TargetSpec(srv.url), suite="standard")
        summary = summarize_run(store, result.run_id)
    assert result.passed
    by_name = {sc.name: {r.metric for r in sc.rows} for sc in summary.scenarios}
    assert set(by_name) == {"sessions", "agent"}
    assert "tool_call_rate" in by_name["agent"] and "tool_call_rate" not in by_name["sessions"]
    # the chat sessions offered no tools; the agent's every turn did (2 users x 4 turns, warmup aside)
    assert sum(1 for r in srv.sent_log if r.body.get("tools")) == 8
