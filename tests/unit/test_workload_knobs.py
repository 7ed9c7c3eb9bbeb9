"""The load knobs: length distributions, arrivals, datasets, and the request each knob sends."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import statistics
from pathlib import Path
from typing import Any

import httpx
import pytest

from dyno.bench.arrivals import schedule
from dyno.bench.scenario import BenchContext
from dyno.bench.scenarios.sessions import AgentSessions, Sessions
from dyno.bench.scenarios.workload import Workload
from dyno.bench.suites import WorkloadKnobs, choose
from dyno.client import Endpoint, StreamClient
from dyno.errors import UsageError
from dyno.store import RunRecorder, Tally
from dyno.workloads.dataset import load_dataset
from dyno.workloads.shapes import Lengths, parse_lengths
from dyno.workloads.synthetic import EstimateTokenizer


def test_length_specs_parse_and_refuse_with_the_forms() -> None:
    assert parse_lengths("512") == Lengths("fixed", 512)
    assert parse_lengths("normal:512,64") == Lengths("normal", 512, 64)
    assert parse_lengths("uniform:100,200") == Lengths("uniform", 100, 200)
    for bad in ("0", "normal:512", "gauss:1,2", "uniform:200,100", "x"):
        with pytest.raises(UsageError, match=r"N, normal:MEAN,STD or uniform:LOW,HIGH|must be >= 1"):
            parse_lengths(bad)


def test_draws_are_the_same_for_the_same_seed() -> None:
    spec = parse_lengths("normal:512,64")
    a = [spec.draw(random.Random(7)) for _ in range(3)]
    b = [spec.draw(random.Random(7)) for _ in range(3)]
    assert a == b and all(x >= 1 for x in a)
    draws = [spec.draw(rng) for rng in [random.Random(3)] for _ in range(4000)]
    assert abs(statistics.fmean(draws) - 512) < 5 and abs(statistics.stdev(draws) - 64) < 5


def test_poisson_arrivals_have_the_right_mean_and_dispersion_for_a_fixed_seed() -> None:
    rate = 20.0
    t = schedule(rate, "poisson", seed=11, requests=20_000, duration_s=None)
    gaps = [b - a for a, b in itertools.pairwise(t)]
    mean = statistics.fmean(gaps)
    assert abs(mean - 1 / rate) / (1 / rate) < 0.03
    # Exponential gaps: the coefficient of variation is 1; counts per second have variance = mean.
    assert abs(statistics.stdev(gaps) / mean - 1) < 0.05
    counts = [0] * int(t[-1])
    for x in t:
        if int(x) < len(counts):
            counts[int(x)] += 1
    assert abs(statistics.variance(counts) / statistics.fmean(counts) - 1) < 0.15
    assert schedule(rate, "poisson", seed=11, requests=50, duration_s=None) == t[:50]  # reproducible


def test_constant_arrivals_and_a_duration() -> None:
    t = schedule(4.0, "constant", seed=0, requests=None, duration_s=2.0)
    assert t == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


def test_a_jsonl_dataset_and_a_sharegpt_one(tmp_path: Path) -> None:
    jl = tmp_path / "p.jsonl"
    jl.write_text(
        '{"prompt": "Say hi"}\n\n# a comment\n'
        '{"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 7}\n'
    )
    ds = load_dataset(jl)
    assert ds.format == "jsonl" and [i.prompt for i in ds.items] == ["Say hi", None]
    assert ds.items[1].messages == ({"role": "user", "content": "Hello"},) and ds.items[1].max_tokens == 7
    sg = tmp_path / "s.json"
    sg.write_text(
        json.dumps(
            [
                {"conversations": [{"from": "human", "value": "Why?"}, {"from": "gpt", "value": "x" * 40}]},
                {"conversations": [{"from": "gpt", "value": "no human turn"}]},
            ]
        )
    )
    ds = load_dataset(sg)
    assert ds.format == "sharegpt" and len(ds.items) == 1 and ds.items[0].max_tokens == 10


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{"prompt": "ok"}\n{"prompt": "unterminated\n', "line 2"),
        ('{"prompt": "ok"}\n\n[1, 2]\n', "line 3"),
        ('{"messages": [{"role": "robot", "content": "x"}]}\n', "line 1"),
        ('{"prompt": "ok", "max_tokens": -3}\n', "line 1"),
    ],
)
def test_a_malformed_dataset_is_refused_with_its_line(tmp_path: Path, text: str, line: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(text)
    with pytest.raises(UsageError, match=line):
        load_dataset(f)


class Recorder:
    """A transport that records every request body and answers with a tiny valid stream."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200)
        self.bodies.append(json.loads(request.content))
        done = {"choices": [{"index": 0, "delta": {"content": " a"}, "finish_reason": "length"}]}
        body = f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode()
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


class NullSink:
    def add_request(self, run_id: int, r: Any) -> None: ...
    def add_scrape(self, *a: Any) -> None: ...


def sent_by(w: Workload) -> list[dict[str, Any]]:
    rec = Recorder()

    async def go() -> None:
        async with StreamClient("http://t", transport=httpx.MockTransport(rec)) as client:
            ep = Endpoint("http://t", transport=httpx.MockTransport(lambda r: httpx.Response(404)))
            run = RunRecorder(NullSink(), 1, "bench", Tally(), 0.0)  # type: ignore[arg-type]
            ctx = BenchContext(client, ep, "m", 4096, EstimateTokenizer(), run, "salt")
            await w.run(ctx)

    asyncio.run(go())
    return rec.bodies


def test_input_and_output_token_knobs_shape_each_request() -> None:
    bodies = sent_by(
        Workload(
            levels=(2,), requests=6, input_tokens=Lengths("fixed", 300), output_tokens=Lengths("fixed", 40)
        )
    )
    measured = bodies[1:]  # the first is the warm-up
    assert len(measured) == 6
    assert all(b["max_tokens"] == 40 and b["ignore_eos"] is True for b in measured)
    lengths = [len(b["messages"][0]["content"]) // 4 + 8 for b in measured]  # the estimate tokenizer's count
    assert all(abs(n - 300) <= 3 for n in lengths)
    salts = {b["messages"][0]["content"].split()[0] for b in measured}
    assert len(salts) == 6  # every prompt starts with its own salt: no prefix cache serves one from another


def test_a_dataset_sends_its_own_prompts_and_budgets(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(
        '{"prompt": "complete me", "max_tokens": 5}\n{"messages": [{"role": "user", "content": "hi"}]}\n'
    )
    bodies = sent_by(Workload(levels=(1,), requests=4, dataset=load_dataset(f), warmup=0))
    kinds = sorted(("prompt" in b, b.get("max_tokens"), b.get("ignore_eos", False)) for b in bodies)
    assert kinds == [(False, 128, False), (False, 128, False), (True, 5, False), (True, 5, False)]


def test_knobs_choose_a_workload_and_refuse_a_scenario_list_beside_them() -> None:
    name, [w] = choose("quick", None, None, (4,), WorkloadKnobs(requests=10))
    assert (
        name == "workload"
        and isinstance(w, Workload)
        and (w.mode, w.levels, w.requests) == ("concurrent", (4.0,), 10)
    )
    _, [r] = choose("quick", None, None, (8,), WorkloadKnobs(rates=(2.0,), duration_s=3))
    assert isinstance(r, Workload) and (r.mode, r.levels, r.max_concurrency, r.duration_s) == (
        "rate",
        (2.0,),
        8,
        3,
    )
    with pytest.raises(UsageError, match="leave --scenario out"):
        choose("quick", ["decode"], None, None, WorkloadKnobs(requests=3))


def test_session_knobs_name_chat_sessions_and_agent_loops_apart() -> None:
    name, [s] = choose("quick", None, None, None, WorkloadKnobs(sessions=2))
    assert (name, type(s)) == ("sessions", Sessions)
    name, [a] = choose(
        "quick", None, None, None, WorkloadKnobs(sessions=2, tool_result_tokens=Lengths("fixed", 64))
    )
    assert (name, type(a)) == ("agent", AgentSessions)
    assert (
        isinstance(a, AgentSessions) and a.tool_result_tokens == Lengths("fixed", 64) and a.spec.sessions == 2
    )
