"""`dyno check --via`: is the model behind a router the engine it claims to be?

The runner sends the same greedy canaries twice, straight to the engine and
through the router (which may know the model by another name, e.g. a LiteLLM
alias), and hands the pairs here. Two canaries are refusals on purpose: the
trap they catch is a router that answers a request the engine refuses (a 400
for tools the engine has not enabled, a prompt longer than its context) from
another model, and reports the result as if nothing happened. Pure functions
over recorded responses, like the rest of probe/judge.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dyno.client import RequestRecord, server_message
from dyno.probe.judge import CheckResult

TITLE = "served identity (via router)"
OVERFLOW = "context-overflow"
TOOLS_AUTO = "tools-auto"
# Past this context the overflow prompt is not sent: a router that falls back would have another
# model prefill it (time, and money on a paid fallback), and the contexts dyno serves are far below.
OVERFLOW_MAX_CONTEXT_TOKENS = 32_768
# A digit and a space are at least one token in every tokenizer in use (digits are never merged
# with the space after them), so N repetitions are at least N tokens whatever the model.
_OVERFLOW_UNIT = "7"


@dataclass(frozen=True)
class CanaryPair:
    name: str
    direct: RequestRecord
    routed: RequestRecord


def overflow_prompt(max_model_len: int | None) -> str | None:
    """A prompt certainly longer than the engine's context (1.5x its tokens), or None when it is
    not worth sending (context unknown, or so large that a fallback would cost real work)."""
    if not max_model_len or max_model_len > OVERFLOW_MAX_CONTEXT_TOKENS:
        return None
    return " ".join([_OVERFLOW_UNIT] * math.ceil(1.5 * max_model_len))


_SAFE_HEADER = re.compile(r"model|litellm|route|upstream|backend|served|server|via|deployment|fallback", re.I)
# Per-request bookkeeping (LiteLLM's cost, spend, timings, call ids, rate limits): it differs on
# every response and says nothing about who answered.
_NOISE_HEADER = re.compile(r"cost|spend|duration|call-id|request-id|limit|remaining|budget|timeout", re.I)


def identity_headers(headers: dict[str, str]) -> dict[str, str]:
    """The response headers that can say who answered (never auth headers). LiteLLM sends
    x-litellm-model-group (the alias that answered), x-litellm-model-id / -model-name /
    -model-api-base (the deployment) and x-litellm-attempted-fallbacks."""
    return {
        k.lower(): v
        for k, v in headers.items()
        if _SAFE_HEADER.search(k)
        and not _NOISE_HEADER.search(k)
        and "key" not in k.lower()
        and "auth" not in k.lower()
    }


def header_fallback(headers: dict[str, str], asked: str) -> str | None:
    """What the router's own headers say about a fallback, in words; None when they say none."""
    h = identity_headers(headers)
    group = h.get("x-litellm-model-group")
    counts = {k: v for k, v in h.items() if "fallback" in k and v.strip().lower() not in ("", "0", "false")}
    if not counts and (group is None or group == asked):
        return None
    said = [f"{k}: {v}" for k, v in sorted(counts.items())]
    if group is not None and group != asked:
        said.append(f"answered by model group {group!r}, not {asked!r}")
    where = h.get("x-litellm-model-api-base") or h.get("x-litellm-model-name")
    return ", ".join(said) + (f" ({where})" if where else "")


def _answer(r: RequestRecord) -> str:
    if not r.ok:
        return f"<{r.error_kind} {r.http_status or ''}>"
    calls = ";".join(f"{c.get('name')}({c.get('arguments')})" for c in r.tool_calls)
    return r.output_text + (f" [tools: {calls}]" if calls else "")


def _refusal(r: RequestRecord) -> str:
    if not r.http_status:
        return str(r.error_kind)
    first = server_message(r.error_message).split(". ")[0]  # the rest is advice, already ours
    return f"HTTP {r.http_status}: {first if len(first) <= 100 else first[:99] + '…'}"


def _answered(r: RequestRecord) -> str:
    return f"answered {r.http_status or 200} ({_answer(r)[:50]!r}, model field {r.response_model!r})"


@dataclass(frozen=True)
class _Difference:
    canary: str
    kind: str  # one of KINDS
    words: str


# fell_back: the engine refused, the router answered; other_answer: both answered, differently;
# router_refused: the engine answered, the router did not; headers_only: the same answer, but the
# router's headers say it fell back to another deployment.
KINDS = ("fell_back", "other_answer", "router_refused", "headers_only")


def _difference(p: CanaryPair, asked: str) -> _Difference | None:
    d, r = p.direct, p.routed
    said = header_fallback(r.response_headers, asked)
    told = f"; the router's headers say {said}" if said else ""
    if not d.ok and not r.ok:
        return None  # both refused: the router passed the refusal on (in its own words, maybe)
    if not d.ok:
        words = f"the engine refused it ({_refusal(d)}) but the router {_answered(r)}"
        return _Difference(p.name, "fell_back", words + told)
    if not r.ok:
        words = f"the engine answered, the router refused it ({_refusal(r)})"
        return _Difference(p.name, "router_refused", words)
    if _answer(d) != _answer(r):
        words = f"direct {_answer(d)[:60]!r} vs router {_answer(r)[:60]!r}"
        return _Difference(p.name, "other_answer", words + told)
    if said:
        return _Difference(p.name, "headers_only", f"the same answer, but the router's headers say {said}")
    return None


def _odd_model_fields(pairs: list[CanaryPair], engine: str, asked: str) -> list[str]:
    """The router's model fields that are none of the names it may fairly report: the engine's,
    the alias it was asked for, or a provider-prefixed name for the deployment (`hosted_vllm/x`)."""
    fair = {engine, asked} | {p.direct.response_model for p in pairs if p.direct.ok}
    return sorted(
        {
            str(m)
            for p in pairs
            if p.routed.ok
            and (m := p.routed.response_model) not in fair
            and not str(m).endswith("/" + engine)
        }
    )


def judge_identity(
    pairs: list[CanaryPair], max_model_len: int | None = None, *, via_url: str = "the router's address"
) -> CheckResult:
    """`pairs`: each canary sent straight to the engine and through the router, in the order sent;
    the model names are the ones the requests carried. `max_model_len`: the engine's context, to
    say why no context-overflow canary was sent when none was."""
    engine = str(pairs[0].direct.params.get("model", "")) if pairs else ""
    asked = str(pairs[0].routed.params.get("model", "")) if pairs else ""
    names = f"direct as {engine!r}, through the router as {asked!r}"
    diffs = [d for p in pairs if (d := _difference(p, asked))]
    kinds = {k: [d.canary for d in diffs if d.kind == k] for k in KINDS}
    odd = _odd_model_fields(pairs, engine, asked)
    facts = {
        "direct_model": engine,
        "via_model": asked,
        "canaries": [p.name for p in pairs],
        "diverged": [d.canary for d in diffs if d.kind != "headers_only"],
        **kinds,
        "model_fields": sorted({str(p.routed.response_model) for p in pairs if p.routed.ok}),
        "routed_headers": {p.name: identity_headers(p.routed.response_headers) for p in pairs},
    }
    detail = "; ".join(f"{d.canary}: {d.words}" for d in diffs)
    unreachable = [p.routed for p in pairs if p.routed.error_kind == "connect"]
    if unreachable:  # not a refusal: nothing took the connection, so no name or key can be wrong yet
        said = (unreachable[0].error_message or "").split("\n")[0][:120]
        return CheckResult(
            "identity",
            TITLE,
            "fail",
            f"the router is not reachable at {via_url}: {len(unreachable)} of {len(pairs)} canaries "
            f"could not connect ({said})",
            "start the router, or pass --via the address it listens on (a LiteLLM proxy configured "
            "with a master key refuses to start without it: read its log)",
            facts,
        )
    if kinds["fell_back"] or kinds["other_answer"]:
        if odd:
            claim = f"; its model field says {odd}"
        elif asked != engine:
            claim = f" although the router reports the name it was asked for ({asked!r})"
        else:
            claim = " although the router reports the same model name"
        return CheckResult(
            "identity",
            TITLE,
            "fail",
            f"{len(diffs)} of {len(pairs)} canaries were answered differently through the router "
            f"({names}){claim}: {detail}",
            _fallback_fix(set(kinds["fell_back"]), asked),
            facts,
        )
    if kinds["router_refused"]:
        return CheckResult(
            "identity",
            TITLE,
            "fail",
            f"{len(diffs)} of {len(pairs)} canaries that the engine answered were refused by the router "
            f"({names}): {detail}",
            "the router does not serve this model under that name, or does not take the key: pass "
            "--via-model with the router's name for it (its /v1/models lists them) and --via-api-key-env "
            "with a key the router accepts",
            facts,
        )
    # Without the overflow canary a context-window fallback goes unseen: say so on a pass or warn.
    unseen = (
        "" if OVERFLOW in facts["canaries"] else f"; no {OVERFLOW} canary ({_why_no_overflow(max_model_len)})"
    )
    if kinds["headers_only"] or odd:
        return CheckResult(
            "identity",
            TITLE,
            "warn",
            f"the same answers ({names}), but " + (detail or f"the router's model field says {odd}") + unseen,
            "the router fell back to another deployment: if that is another model, its fallback hides "
            "the engine's failures"
            if kinds["headers_only"]
            else "",
            facts,
        )
    texts = [p.name for p in pairs if p.direct.ok]
    refusals = [p.name for p in pairs if not p.direct.ok]
    how = ([f"{', '.join(texts)} with the same greedy text"] if texts else []) + (
        [f"{', '.join(refusals)} refused by the engine, the refusal passed on"] if refusals else []
    )
    return CheckResult(
        "identity",
        TITLE,
        "pass",
        f"all {len(pairs)} canaries answered alike, {names}: {'; '.join(how)}{unseen}",
        facts=facts,
    )


def _why_no_overflow(max_model_len: int | None) -> str:
    if not max_model_len:
        return "the engine's context is unknown"
    return f"the engine's context, {max_model_len} tokens, is over {OVERFLOW_MAX_CONTEXT_TOKENS}"


def _fallback_fix(fell_back: set[str], asked: str) -> str:
    fixes = [
        "the router serves (some) requests from another model: a fallback after the engine refused "
        "them, or another deployment behind the name"
    ]
    if OVERFLOW in fell_back:
        fixes.append(
            "prompts over the engine's context go elsewhere, so clients never learn theirs was too long: "
            f"LiteLLM does this with `fallbacks` or `context_window_fallbacks` for {asked!r} (drop them, "
            "or fall back to the same model with a longer context)"
        )
    if TOOLS_AUTO in fell_back:
        fixes.append(
            "requests with tools go elsewhere because the engine refuses them: enable tool calling on "
            "the engine (--enable-auto-tool-choice --tool-call-parser ...) or turn the router's fallback off"
        )
    return "; ".join(fixes)
