"""Rules about what clients see: tool calling, reasoning, chat templates, exposure and keys."""

from __future__ import annotations

from dyno.lint.types import Finding, LintContext, rule

OPEN_HOSTS = ("0.0.0.0", "::", "[::]", "")


@rule("tool-choice-needs-parser", "vLLM refuses --enable-auto-tool-choice without --tool-call-parser")
def tool_choice_needs_parser(ctx: LintContext) -> list[Finding]:
    if ctx.has_flag("--enable-auto-tool-choice") and not isinstance(ctx.flag("--tool-call-parser"), str):
        parser = ctx.model.tool_call_parser if ctx.model and ctx.model.tool_call_parser else "PARSER"
        return [
            Finding(
                "tool-choice-needs-parser",
                "error",
                "--enable-auto-tool-choice is set without --tool-call-parser: vLLM refuses to start",
                f"add --tool-call-parser {parser}",
            )
        ]
    return []


@rule("tool-flags-missing", "trap 1: tool_choice 'auto' gets HTTP 400 and routers silently fall back")
def tool_flags_missing(ctx: LintContext) -> list[Finding]:
    capable = (ctx.model is not None and ctx.model.tool_capable) or (
        ctx.folder is not None and ctx.folder.tool_capable
    )
    if not capable or (ctx.has_flag("--enable-auto-tool-choice") and ctx.has_flag("--tool-call-parser")):
        return []
    parser = ctx.model.tool_call_parser if ctx.model and ctx.model.tool_call_parser else "PARSER"
    return [
        Finding(
            "tool-flags-missing",
            "warn",
            "this model calls tools, but the server is started without tool flags: clients sending "
            '`tool_choice: "auto"` get HTTP 400, and behind a router with fallback every such request '
            "silently lands on another model",
            f"add --enable-auto-tool-choice --tool-call-parser {parser}",
        )
    ]


@rule("tool-parser-mismatch", "a parser for another model's format parses nothing")
def tool_parser_mismatch(ctx: LintContext) -> list[Finding]:
    given = ctx.flag("--tool-call-parser")
    want = ctx.model.tool_call_parser if ctx.model else None
    if isinstance(given, str) and want and given != want:
        return [
            Finding(
                "tool-parser-mismatch",
                "warn",
                f"--tool-call-parser {given} does not match {ctx.model.id if ctx.model else ''}'s tool "
                f"call format ({want}): tool calls come back as plain text",
                f"use --tool-call-parser {want}",
            )
        ]
    return []


@rule("reasoning-parser-missing", "a thinking model without its parser leaks its reasoning into content")
def reasoning_parser_missing(ctx: LintContext) -> list[Finding]:
    want = ctx.model.reasoning_parser if ctx.model else None
    if not want or ctx.has_flag("--reasoning-parser"):
        return []
    return [
        Finding(
            "reasoning-parser-missing",
            "warn",
            f"{ctx.model.id if ctx.model else 'this model'} has a thinking mode but no reasoning parser is "
            "set: its reasoning arrives mixed into `content` and tool calls inside it are missed",
            f"add --reasoning-parser {want}",
        )
    ]


@rule("base-model-chat", "a base checkpoint has no chat template: /v1/chat/completions fails")
def base_model_chat(ctx: LintContext) -> list[Finding]:
    if ctx.is_instruct is not False or ctx.has_flag("--chat-template"):
        return []
    sibling = ctx.model.instruct_variant if ctx.model and ctx.model.instruct_variant else None
    return [
        Finding(
            "base-model-chat",
            "warn",
            "this is a base checkpoint without a chat template: chat completions fail (or get a "
            "generic template) and its answers are not instruction-following",
            f"serve the instruction-tuned variant{f' ({sibling})' if sibling else ''}, "
            "or use /v1/completions",
        )
    ]


def _exposed(ctx: LintContext) -> bool:
    if ctx.docker is not None and ctx.docker.network != "host":
        return any(p.host_ip in (None, "0.0.0.0", "::", "[::]") for p in ctx.docker.publish)
    return ctx.recipe.host in OPEN_HOSTS


def _has_key(ctx: LintContext) -> bool:
    return bool(ctx.recipe.api_key_env) or ctx.has_flag("--api-key") or "VLLM_API_KEY" in ctx.env_names()


@rule("exposed-without-api-key", "an open OpenAI-compatible endpoint serves anyone on the network")
def exposed_without_api_key(ctx: LintContext) -> list[Finding]:
    if not _exposed(ctx) or _has_key(ctx):
        return []
    where = (
        "docker publishes the port on all interfaces"
        if ctx.docker is not None
        else f"the server binds {ctx.recipe.host or 'all interfaces'}"
        + (" (vLLM's default when --host is not given)" if ctx.recipe.host == "0.0.0.0" else "")
    )
    return [
        Finding(
            "exposed-without-api-key",
            "error",
            f"{where} and no API key is required: anyone who can reach this machine can use it",
            "bind 127.0.0.1 (docker: -p 127.0.0.1:PORT:PORT), or require a key: export VLLM_API_KEY "
            "(docker: -e VLLM_API_KEY; dyno: --api-key-env NAME)",
        )
    ]


@rule("api-key-on-command-line", "a key in argv shows in `ps` and shell history")
def api_key_on_command_line(ctx: LintContext) -> list[Finding]:
    if isinstance(ctx.flag("--api-key"), str):
        return [
            Finding(
                "api-key-on-command-line",
                "warn",
                "--api-key puts the key on the command line, where `ps` and shell history show it",
                "drop --api-key and export VLLM_API_KEY instead (vLLM reads it from the environment)",
            )
        ]
    return []
