"""`dyno check` on llama.cpp's llama-server: its slots, from /props and /slots.

llama-server decodes at most `total_slots` requests at once (`-np`); one more
waits for a slot, its TTFT holding the others' whole generations. And /slots,
on by default, shows each slot's last prompt and answer: to anyone who can
reach the server when it has no API key.
"""

from __future__ import annotations

from typing import Any

from dyno.client import Endpoint
from dyno.probe.judge import CheckResult

SLOTS = "llama-slots"


def judge_slots(props: Any, slots_open: bool, beyond_loopback: bool) -> CheckResult:
    """`props`: GET /props; `slots_open`: an anonymous GET /slots answered 200."""
    title = "llama.cpp slots"
    if not isinstance(props, dict) or not isinstance(props.get("total_slots"), int):
        return CheckResult(SLOTS, title, "skipped", "/props does not say how many slots there are")
    n = props["total_slots"]
    settings = props.get("default_generation_settings")
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    ev = f"{n} slot{'s' if n != 1 else ''} of {n_ctx or '?'} tokens (/props)"
    facts = {"total_slots": n, "n_ctx_slot": n_ctx, "slots_endpoint_open": slots_open}
    if slots_open and beyond_loopback:
        return CheckResult(
            SLOTS,
            title,
            "fail",
            f"{ev}; /slots answers without a key beyond loopback: it shows every user's last prompt "
            "and answer",
            "start llama-server with --no-slots, or require a key (LLAMA_API_KEY), or bind 127.0.0.1",
            facts,
        )
    if n == 1:
        return CheckResult(
            SLOTS,
            title,
            "warn",
            f"{ev}: a second concurrent request waits for the first to finish, its TTFT holding the "
            "whole of the first's generation",
            "start llama-server with -np N (as many slots as concurrent users) and -c N×context",
            facts,
        )
    return CheckResult(SLOTS, title, "pass", f"{ev}: up to {n} requests decode together", fix="", facts=facts)


def check_slots(url: str, api_key: str | None, beyond_loopback: bool) -> CheckResult:
    with Endpoint(url, api_key=api_key) as ep:
        props = ep.json_or_none("/props")
    with Endpoint(url) as anonymous:
        slots_open = anonymous.status_code("/slots") == 200
    return judge_slots(props, slots_open, beyond_loopback)
