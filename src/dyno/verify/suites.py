"""What each verify suite sends: the items, the request for each, and the config stored with them.

A suite's scenario row stores its items (ids, prompts, expected answers, the
tools offered) and decoding settings, so a stored run can be re-judged from
its own rows even after the bundled sets change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dyno.client import GenRequest
from dyno.errors import UsageError
from dyno.workloads.verify_sets import LOSSLESS_PROMPTS, MATH_INSTRUCTION, MATH_PROBLEMS, TOOL_TASKS

SUITE_NAMES = ("lossless", "math", "tools")
SCENARIO_PREFIX = "verify:"
SEED = 1234  # greedy decoding ignores it; fixed anyway for servers that sample at temperature 0
LOSSLESS_MAX_TOKENS = 64
MATH_MAX_TOKENS = 160  # room for a few steps of working and the "Answer:" line
TOOLS_MAX_TOKENS = 128  # a tool call with its arguments is well under this
TOOL_CHOICE = "auto"  # what agent clients send; a server without a tool parser answers it with 400


@dataclass(frozen=True)
class SuitePlan:
    name: str  # lossless | math | tools
    max_tokens: int
    items: tuple[dict[str, Any], ...]  # JSON-ready, as stored in the scenario config

    @property
    def scenario(self) -> str:
        return SCENARIO_PREFIX + self.name

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "suite": self.name,
            "max_tokens": self.max_tokens,
            "temperature": 0.0,
            "seed": SEED,
            "items": list(self.items),
        }
        if self.name == "math":
            cfg["instruction"] = MATH_INSTRUCTION
        if self.name == "tools":
            cfg["tool_choice"] = TOOL_CHOICE
        return cfg

    def request(self, model: str, index: int) -> GenRequest:
        return request_for(self.name, self.config(), model, index)


def request_for(suite: str, config: dict[str, Any], model: str, index: int) -> GenRequest:
    """The request for item `index` of a suite, from its stored config (the same on both sides)."""
    item = config["items"][index]
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice = None
    if suite == "lossless":
        content = item["prompt"]
    elif suite == "math":
        content = f"{item['question']}\n{config.get('instruction', MATH_INSTRUCTION)}"
    elif suite == "tools":
        content = item["prompt"]
        tools = tuple(item["tools"])
        tool_choice = config.get("tool_choice", TOOL_CHOICE)
    else:
        raise UsageError(f"unknown verify suite {suite!r}")
    return GenRequest.user(
        model,
        content,
        int(config["max_tokens"]),
        seed=int(config.get("seed", SEED)),
        tools=tools,
        tool_choice=tool_choice,
    )


def parse_suites(raw: str) -> tuple[str, ...]:
    """`all`, one name, or a comma list (`lossless,math`), in canonical order."""
    names = {s.strip() for s in raw.split(",") if s.strip()}
    if "all" in names:
        return SUITE_NAMES
    unknown = names - set(SUITE_NAMES)
    if unknown or not names:
        raise UsageError(f"--suite takes lossless, math, tools or all (or a comma list), not {raw!r}")
    return tuple(s for s in SUITE_NAMES if s in names)


def plan_suites(
    names: tuple[str, ...], *, limit: int | None = None, lossless_max_tokens: int = LOSSLESS_MAX_TOKENS
) -> list[SuitePlan]:
    """The suites to run, each cut to its first `limit` items (all when None)."""
    if limit is not None and limit < 1:
        raise UsageError("--limit must be >= 1")
    if lossless_max_tokens < 1:
        raise UsageError("--max-tokens must be >= 1")
    cut = slice(None, limit)
    plans = []
    for name in names:
        if name == "lossless":
            items = tuple(asdict(p) for p in LOSSLESS_PROMPTS[cut])
            plans.append(SuitePlan(name, lossless_max_tokens, items))
        elif name == "math":
            plans.append(SuitePlan(name, MATH_MAX_TOKENS, tuple(asdict(p) for p in MATH_PROBLEMS[cut])))
        elif name == "tools":
            items = tuple(
                {
                    "id": t.id,
                    "prompt": t.prompt,
                    "tools": list(t.tools),
                    "expected_function": t.expected_function,
                }
                for t in TOOL_TASKS[cut]
            )
            plans.append(SuitePlan(name, TOOLS_MAX_TOKENS, items))
        else:
            raise UsageError(f"unknown verify suite {name!r}")
    return plans
