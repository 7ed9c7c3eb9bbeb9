"""`dyno verify` end to end against real HTTP servers in threads.

The pacing fixture answers every prompt with the same " tokN" words, which is
right for "two identical endpoints" and for failures; a small scripted server
below answers the bundled sets the way a model would (a final "Answer:" line,
streamed tool-call deltas), so the suites' judgements can be checked against
numbers worked out by hand.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from dyno.engine.state import EngineState, write_state
from dyno.errors import UsageError
from dyno.settings import Settings
from dyno.store import Store
from dyno.verify import VerifyOptions, run_verify
from dyno.workloads.verify_sets import LOSSLESS_PROMPTS, MATH_PROBLEMS, TOOL_TASKS
from tests.fixtures.pacing import StartPacing

Reply = Callable[[dict[str, Any]], tuple[str, list[dict[str, str]]]]


class ScriptedServer:
    """Streams OpenAI-style SSE for whatever `reply(body)` returns: (content, [{name, arguments}])."""

    def __init__(self, reply: Reply, model: str = "scripted-model") -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # close after each response: the stream ends at EOF

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, doc: object) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._json(200, {"data": [{"id": model, "max_model_len": 2048, "root": model}]})
                elif self.path == "/version":
                    self._json(200, {"version": "0.0-scripted"})
                elif self.path == "/health":
                    self._json(200, {})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                text, calls = reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()

                def event(delta: dict[str, Any], finish: str | None = None) -> None:
                    chunk = {
                        "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())

                event({"role": "assistant", "content": ""})
                for i in range(0, len(text), 5):
                    event({"content": text[i : i + 5]})
                for n, call in enumerate(calls):  # the way vLLM streams a parsed call: name, then pieces
                    head = {"index": n, "id": f"call_{n}", "type": "function"}
                    event({"tool_calls": [head | {"function": {"name": call["name"], "arguments": ""}}]})
                    args = call["arguments"]
                    for i in range(0, len(args), 7):
                        event({"tool_calls": [{"index": n, "function": {"arguments": args[i : i + 7]}}]})
                event({}, "tool_calls" if calls else "stop")
                usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.bodies: list[dict[str, Any]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# Arguments a correct model would send: they must pass the bundled schemas.
VALID_ARGS: dict[str, dict[str, Any]] = {
    "tool-01": {"city": "Tokyo", "unit": "celsius"},
    "tool-02": {"city": "Sydney"},
    "tool-03": {"amount": 250, "from_currency": "USD", "to_currency": "EUR"},
    "tool-04": {"to": "alex@example.com", "subject": "Lunch", "body": "I'll be 10 minutes late."},
    "tool-05": {"title": "Design review", "date": "2025-03-14", "time": "15:00"},
    "tool-06": {"query": "running shoes", "max_price": 80},
    "tool-07": {"minutes": 12},
    "tool-08": {"text": "good morning, how are you?", "target_language": "Spanish"},
    "tool-09": {"symbol": "AAPL"},
    "tool-10": {"restaurant": "Luigi's", "people": 4, "time": "19:30"},
}
TASK_BY_PROMPT = {t.prompt: t for t in TOOL_TASKS}
MATH_INDEX = {m.question: i for i, m in enumerate(MATH_PROBLEMS)}


def _prose(content: str) -> str:
    return f"Sure. Here is my reply to: {content[:50]}. The end."


def baseline_reply(body: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    content = body["messages"][-1]["content"]
    if body.get("tools"):
        task = TASK_BY_PROMPT[content]
        if task.id == "tool-03":
            return "", [{"name": "get_stock_price", "arguments": '{"symbol": "USD"}'}]
        if task.id == "tool-05":
            return "", [
                {"name": "create_event", "arguments": '{"title": "Design review", "date": "14/03/2025"}'}
            ]
        return "", [{"name": task.expected_function, "arguments": json.dumps(VALID_ARGS[task.id])}]
    question = content.split("\n")[0]
    if question in MATH_INDEX:
        return f"Let me work it out.\nAnswer: {MATH_PROBLEMS[MATH_INDEX[question]].answer}", []
    return _prose(content), []


def candidate_reply(body: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    content = body["messages"][-1]["content"]
    if body.get("tools"):
        task = TASK_BY_PROMPT[content]
        return "", [{"name": task.expected_function, "arguments": json.dumps(VALID_ARGS[task.id])}]
    question = content.split("\n")[0]
    if question in MATH_INDEX:
        i = MATH_INDEX[question]
        wrong = int(float(MATH_PROBLEMS[i].answer)) + 1
        return f"Answer: {wrong if i < 8 else MATH_PROBLEMS[i].answer}", []
    text = _prose(content)
    return (text.replace("The end.", "Fin.") if "JSON" in content else text), []


@pytest.fixture
def scripted_pair() -> Iterator[tuple[ScriptedServer, ScriptedServer]]:
    with ScriptedServer(candidate_reply) as cand, ScriptedServer(baseline_reply) as base:
        yield cand, base


def dyno(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dyno.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=timeout,
    )


def test_all_suites_find_the_planted_differences(
    scripted_pair: tuple[ScriptedServer, ScriptedServer],
) -> None:
    cand, base = scripted_pair
    out = dyno("verify", cand.url, "--baseline", base.url, "--format", "json")
    assert out.returncode == 1, out.stderr  # lossless under the bar and math significantly worse
    doc = json.loads(out.stdout)

    n_json = sum("JSON" in p.prompt for p in LOSSLESS_PROMPTS)
    lossless = doc["suites"]["lossless"]
    assert (lossless["n"], lossless["matches"]) == (40, 40 - n_json)
    assert lossless["match_rate"] == (40 - n_json) / 40 and lossless["passed"] is False
    first = lossless["mismatches"][0]
    prompt = LOSSLESS_PROMPTS[first["index"]].prompt
    assert "JSON" in prompt
    shared = f"Sure. Here is my reply to: {prompt[:50]}. "
    assert first["char_index"] == len(shared) and first["word_index"] == len(shared.split())
    assert (first["candidate_tail"], first["baseline_tail"]) == ("Fin.", "The end.")

    math = doc["suites"]["math"]
    assert (math["n"], math["candidate_accuracy"], math["baseline_accuracy"]) == (50, 42 / 50, 1.0)
    m = math["mcnemar"]
    assert (m["b"], m["c"], m["p_value"], m["significant"], m["candidate_worse"]) == (
        8,
        0,
        0.0078125,
        True,
        True,
    )

    tools = doc["suites"]["tools"]
    assert (tools["candidate_validity"], tools["baseline_validity"]) == (1.0, 0.8)
    assert tools["baseline_reasons"] == {"ok": 8, "wrong_function": 1, "schema_invalid": 1}
    bad = {t["id"]: t["baseline"] for t in tools["items"] if not t["baseline"]["valid"]}
    assert bad["tool-03"]["reason"] == "wrong_function"
    assert bad["tool-05"]["reason"] == "schema_invalid" and "date" in bad["tool-05"]["detail"]

    assert doc["verdict"]["exit_code"] == 1 and len(doc["verdict"]["reasons"]) == 2
    assert doc["sides"]["candidate"]["url"] == cand.url and doc["sides"]["baseline"]["url"] == base.url
    assert doc["sides"]["baseline"]["engine_version"] == "0.0-scripted"

    # same requests on both sides: greedy, same max_tokens, tools only in the tools suite
    for srv in (cand, base):
        assert len(srv.bodies) == 100
        assert all(b["temperature"] == 0.0 and b["seed"] == 1234 for b in srv.bodies)
    strip = [{k: v for k, v in b.items() if k != "stream_options"} for b in cand.bodies]
    assert sorted(map(json.dumps, strip)) == sorted(
        json.dumps({k: v for k, v in b.items() if k != "stream_options"}) for b in base.bodies
    )

    # stored raw, and `dyno report` re-derives the same document from the rows
    run_id = doc["run"]["id"]
    with Store(Settings.from_env().db_path) as store:
        reqs = store.requests(run_id)
        assert len(reqs) == 200 and {r.label for r in reqs} == {"candidate", "baseline"}
        assert {r.scenario for r in reqs} == {"verify:lossless", "verify:math", "verify:tools"}
        facts = {s.name: s.facts for s in store.scenarios(run_id)}
        assert facts["verify:math"]["mcnemar"]["p_value"] == 0.0078125
        run = store.get_run(run_id)
        assert run is not None and run.kind == "verify" and run.status == "complete"
        assert run.server_info is not None and set(run.server_info) == {"candidate", "baseline"}
    again = dyno("report", str(run_id), "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout) == doc


def test_text_output_names_both_sides_and_shows_mismatches(
    scripted_pair: tuple[ScriptedServer, ScriptedServer],
) -> None:
    cand, base = scripted_pair
    out = dyno("verify", cand.url, "--baseline", base.url, "--suite", "lossless,math", "--limit", "12")
    assert out.returncode == 1, out.stderr
    text = out.stdout
    assert cand.url in text and base.url in text
    assert "match rate" in text and "FAIL" in text
    assert "diverges at char" in text and "Fin." in text and "The end." in text
    assert "exact McNemar p = 0.007812" in text and "significant at 0.05: yes" in text
    assert "stored as run" in out.stderr


def test_identical_endpoints_pass(pacing_server: StartPacing) -> None:
    a, b = pacing_server(ttft_s=0.0, itl_s=0.0), pacing_server(ttft_s=0.0, itl_s=0.0)
    out = dyno(
        "verify", a.url, "--baseline", b.url, "--suite", "lossless", "--limit", "6", "--max-tokens", "8"
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert "match rate 100.0% (6/6), bar ≥ 80%: PASS" in out.stdout and "verdict: PASS" in out.stdout
    assert all(r.body["max_tokens"] == 8 for r in a.sent_log + b.sent_log)


def test_a_failing_side_counts_as_mismatches_without_a_crash(pacing_server: StartPacing) -> None:
    good = pacing_server(ttft_s=0.0, itl_s=0.0)
    broken = pacing_server(ttft_s=0.0, itl_s=0.0, fail_status=500)
    out = dyno(
        "verify",
        good.url,
        "--baseline",
        broken.url,
        "--suite",
        "lossless",
        "--limit",
        "4",
        "--format",
        "json",
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    doc = json.loads(out.stdout)
    lossless = doc["suites"]["lossless"]
    assert lossless["matches"] == 0 and len(lossless["mismatches"]) == 4
    assert all(m["baseline_error"].startswith("http_5xx") for m in lossless["mismatches"])
    assert all(m["char_index"] is None and m["candidate_error"] is None for m in lossless["mismatches"])
    assert lossless["notes"] == ["4 baseline requests failed (http_5xx); each counts against the baseline"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_is_a_clean_error_and_stores_nothing(pacing_server: StartPacing) -> None:
    good = pacing_server()
    dead = f"http://127.0.0.1:{_free_port()}"
    out = dyno("verify", good.url, "--baseline", dead, "--suite", "lossless")
    assert out.returncode == 1
    assert f"cannot verify the baseline side ({dead})" in out.stderr and "Traceback" not in out.stderr
    with Store(Settings.from_env().db_path) as store:
        assert store.list_runs(kind="verify") == []


def test_bad_input_is_a_usage_error() -> None:
    out = dyno("verify", "http://127.0.0.1:9", "--baseline", "no-such-profile")
    assert out.returncode == 2 and "unknown profile 'no-such-profile'" in out.stderr
    out = dyno("verify", "http://127.0.0.1:9", "--baseline", "http://127.0.0.1:9", "--suite", "speed")
    assert out.returncode == 2 and "--suite takes" in out.stderr


def _pretend_running(settings: Settings, profile: str, url: str) -> None:
    """A state file naming this test process as the engine, so liveness() believes it."""
    host, port = url.removeprefix("http://").split(":")
    me = psutil.Process()
    write_state(
        settings,
        EngineState(
            profile=profile,
            pid=me.pid,
            pgid=os.getpgid(me.pid),
            create_time=me.create_time(),
            host=host,
            port=int(port),
            served_name="pacing-model",
            model="pacing-model",
            recipe={"flags": ["--enforce-eager"]},
            command=["vllm", "serve"],
            log_path="/dev/null",
            started_at=time.time(),
            phase="ready",
            engine_version="0.32.0",
        ),
    )


def test_a_running_profile_is_used_where_it_is(pacing_server: StartPacing, dyno_home: Path) -> None:
    running, other = pacing_server(ttft_s=0.0, itl_s=0.0), pacing_server(ttft_s=0.0, itl_s=0.0)
    settings = Settings.from_env()
    _pretend_running(settings, "smollm2", running.url)
    with Store(settings.db_path) as store:
        res = run_verify(settings, store, "smollm2", other.url, options=VerifyOptions(("lossless",), limit=2))
        run = store.get_run(res.run_id)
    assert res.status == "complete" and len(running.sent_log) == 2 and len(other.sent_log) == 2
    assert run is not None and run.server_info is not None and run.launch_config is not None
    assert run.server_info["candidate"]["profile"] == "smollm2"
    assert run.server_info["candidate"]["started_by_verify"] is False
    assert run.launch_config["candidate"]["recipe"] == {"flags": ["--enforce-eager"]}
    assert run.launch_config["baseline"] is None and run.endpoint == running.url


def test_never_stops_an_engine_it_did_not_start(pacing_server: StartPacing, dyno_home: Path) -> None:
    running = pacing_server()
    settings = Settings.from_env()
    _pretend_running(settings, "smollm2", running.url)
    with Store(settings.db_path) as store, pytest.raises(UsageError, match="`dyno down` first"):
        run_verify(settings, store, "smollm2-tools", "smollm2")
    assert running.sent_log == []
