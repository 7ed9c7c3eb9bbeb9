"""Suite selection, exact-length prompts, the prefix-cache verdict, the tool-400 reading."""

from __future__ import annotations

import asyncio

import pytest

from dyno.bench import suites
from dyno.bench.scenario import ResultRow
from dyno.bench.scenarios import TTFT, Concurrency, Decode
from dyno.bench.scenarios.cache import verdict
from dyno.bench.scenarios.features import tools_not_enabled
from dyno.catalog.tools import suggest_tool_parser
from dyno.client import server_message
from dyno.errors import UsageError
from dyno.workloads.synthetic import EstimateTokenizer, exact_prompt


def test_quick_suite_is_what_the_issue_asks_for() -> None:
    q = suites.select("quick")
    assert q == [
        Decode(lengths=(128,), repeat=3),
        TTFT(kinds=("short",), repeat=3),
        Concurrency(levels=(1, 4), output_tokens=128),
    ]


def test_selecting_scenarios_repeat_and_levels() -> None:
    chosen = suites.select("quick", ["spec-decode", "decode"], repeat=2, concurrency=(1, 3))
    assert [s.name for s in chosen] == ["spec-decode", "decode"]
    assert chosen[1] == Decode(lengths=(128,), repeat=2)  # quick's sizes, new repeat
    conc = suites.select("standard", ["concurrency"], concurrency=(1, 3))[0]
    assert isinstance(conc, Concurrency) and conc.levels == (1, 3)
    with pytest.raises(UsageError, match="unknown scenario"):
        suites.select("quick", ["nope"])
    with pytest.raises(UsageError, match="unknown suite"):
        suites.select("huge")


class WordTokenizer:
    """Counts whitespace words (+3 for a chat template), like a server would count its tokens."""

    method = "test words"
    exact = True

    async def count(self, text: str, *, chat: bool) -> int:
        return len(text.split()) + (3 if chat else 0)


@pytest.mark.parametrize("target", [10, 57, 300, 4096])
def test_exact_prompt_hits_the_target(target: int) -> None:
    p = asyncio.run(exact_prompt(WordTokenizer(), target, salt="s1"))
    assert p.tokens == target and p.exact
    assert p.text.startswith("[s1]")
    assert len(p.text.split()) + 3 == target


def test_salts_make_prefixes_differ_and_estimates_say_so() -> None:
    a = asyncio.run(exact_prompt(WordTokenizer(), 100, salt="a"))
    b = asyncio.run(exact_prompt(WordTokenizer(), 100, salt="b"))
    assert a.text.split()[0] != b.text.split()[0]
    est = asyncio.run(exact_prompt(EstimateTokenizer(), 100, salt="x"))
    assert not est.exact and est.method.startswith("estimate")


def _rate(label: str, lo: float, hi: float) -> ResultRow:
    return ResultRow("prefix-cache", label, "cache_hit_rate", "", 3, (lo + hi) / 2, 0.0, None, lo, hi)


def test_prefix_cache_verdict() -> None:
    assert verdict([_rate("cold", 0.0, 0.02), _rate("warm", 0.9, 0.95)]).startswith("verified")
    assert verdict([_rate("cold", 0.0, 0.6), _rate("warm", 0.9, 0.95)]).startswith("NOT verified")
    assert verdict([_rate("cold", 0.0, 0.0), _rate("warm", 0.1, 0.2)]).startswith("NOT verified")
    assert verdict([]).startswith("unverified")


def test_tool_400_is_recognised_from_vllms_message() -> None:
    body = (
        '{"error":{"message":"\\"auto\\" tool choice requires --enable-auto-tool-choice and '
        '--tool-call-parser to be set","type":"BadRequestError","param":null,"code":400}}'
    )
    assert tools_not_enabled(400, body)
    assert not tools_not_enabled(400, '{"error":{"message":"max_tokens is too large"}}')
    assert not tools_not_enabled(500, body)
    assert server_message(body).startswith('"auto" tool choice requires')
    assert server_message("plain text") == "plain text"
    assert suggest_tool_parser("google/gemma-4-26B-A4B-it") == "gemma4"
    assert suggest_tool_parser("smollm2-135m-instruct") == "hermes"


def test_a_probe_whose_400_is_its_answer_is_not_a_failed_request() -> None:
    from dyno.client.records import RequestRecord
    from dyno.store import Tally

    t = Tally()
    probe = RequestRecord(
        params={}, t_sent_ns=0, http_status=400, error_kind="http_4xx", error_message="x", label="tools"
    )
    t.add(probe)
    assert t.failed == 1
    t.forgive(probe)
    assert (t.measured, t.failed, t.summary()) == (1, 0, "")
