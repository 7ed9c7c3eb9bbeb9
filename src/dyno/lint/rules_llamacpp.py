"""Rules for llama.cpp's `llama-server`: its own flags, and the traps they set.

Flag names and behaviour as of llama.cpp b11434 (common/arg.cpp, tools/server/server-context.cpp):
`-np/--parallel` slots, `-c/--ctx-size` shared out among them unless `-kvu/--kv-unified`, `-a/--alias`,
`--metrics`, `-ctk/-ctv` cache types, `-fa/--flash-attn`, `--spec-type` and `--spec-draft-*`.
"""

from __future__ import annotations

from dyno.lint.types import Finding, LintContext, rule

LLAMA = ("llama.cpp",)
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# Flags b11434 refuses to start with ("the argument has been removed"), and what replaced each.
REMOVED = {
    "--draft": "--spec-draft-n-max (or --spec-ngram-mod-n-max)",
    "--draft-n": "--spec-draft-n-max (or --spec-ngram-mod-n-max)",
    "--draft-max": "--spec-draft-n-max (or --spec-ngram-mod-n-max)",
    "--draft-min": "--spec-draft-n-min (or --spec-ngram-mod-n-min)",
    "--draft-n-min": "--spec-draft-n-min (or --spec-ngram-mod-n-min)",
    "--spec-ngram-size-n": "the respective --spec-ngram-*-size-n",
    "--spec-ngram-size-m": "the respective --spec-ngram-*-size-m",
    "--spec-ngram-min-hits": "the respective --spec-ngram-*-min-hits",
}
SPEC_TYPES = (
    "none",
    "draft-simple",
    "draft-eagle3",
    "draft-mtp",
    "draft-dflash",
    "draft-dspark",
    "ngram-simple",
    "ngram-map-k",
    "ngram-map-k4v",
    "ngram-mod",
    "ngram-cache",
)
UNQUANTIZED_CACHE = ("f32", "f16", "bf16")


def _flag(ctx: LintContext, *names: str) -> str | bool | None:
    """The value of the first of a flag's spellings that is given (llama.cpp has several for most)."""
    for name in names:
        v = ctx.flag(name)
        if v is not None:
            return v
    return None


def _int(ctx: LintContext, *names: str) -> int | None:
    v = _flag(ctx, *names)
    try:
        return int(v) if isinstance(v, str) else None
    except ValueError:
        return None


@rule("llama-removed-flag", "llama-server refuses to start on a removed flag", engines=LLAMA)
def removed_flag(ctx: LintContext) -> list[Finding]:
    out = []
    for tok in ctx.recipe.flags:
        name = tok.split("=", 1)[0]
        if name in REMOVED:
            out.append(
                Finding(
                    "llama-removed-flag",
                    "error",
                    f"{name} has been removed from llama-server: it refuses to start",
                    f"use {REMOVED[name]}",
                )
            )
    return out


@rule("llama-spec-type-unknown", "llama-server refuses a speculative type it does not know", engines=LLAMA)
def spec_type_unknown(ctx: LintContext) -> list[Finding]:
    v = _flag(ctx, "--spec-type")
    if not isinstance(v, str):
        return []
    bad = [t for t in v.split(",") if t not in SPEC_TYPES]
    if not bad:
        return []
    return [
        Finding(
            "llama-spec-type-unknown",
            "error",
            f"--spec-type {', '.join(bad)}: not a speculative type this llama-server knows",
            f"one or more of {', '.join(SPEC_TYPES)}",
        )
    ]


@rule(
    "llama-single-slot",
    "one slot serialises concurrent requests: the second waits for the first",
    engines=LLAMA,
)
def single_slot(ctx: LintContext) -> list[Finding]:
    if _int(ctx, "-np", "--parallel") != 1:
        return []
    return [
        Finding(
            "llama-single-slot",
            "warn",
            "-np 1: one slot, so concurrent requests queue one behind another; throughput does not "
            "grow with users and every queued request's TTFT includes the others' whole generations",
            "give it as many slots as concurrent users (-np 4), and -c N×context so each slot keeps "
            "its context (or --kv-unified to share one cache)",
        )
    ]


@rule("llama-slot-context", "-c is shared out among the slots: each gets c/np tokens", engines=LLAMA)
def slot_context(ctx: LintContext) -> list[Finding]:
    n_ctx, slots = _int(ctx, "-c", "--ctx-size"), _int(ctx, "-np", "--parallel")
    unified = _flag(ctx, "-kvu", "--kv-unified") is not None
    if n_ctx is None or slots is None or slots <= 1 or unified or n_ctx <= 0:
        return []
    per_slot = n_ctx // slots
    return [
        Finding(
            "llama-slot-context",
            "info",
            f"-c {n_ctx} with -np {slots}: each slot holds {per_slot} tokens; a longer prompt plus its "
            f"answer does not fit one slot, however empty the others are",
            f"-c {n_ctx * 2} doubles each slot's context; --kv-unified lets one request use the whole cache",
        )
    ]


@rule(
    "llama-no-alias",
    "the request's model name is ignored; without -a the server is named by its path",
    engines=LLAMA,
)
def no_alias(ctx: LintContext) -> list[Finding]:
    if ctx.recipe.served_name:
        return []
    return [
        Finding(
            "llama-no-alias",
            "info",
            "no -a/--alias: /v1/models and every response name the model by its file path, and the "
            "`model` a client sends is ignored (any name is answered by this model), so a router or "
            "client that checks names sees a path",
            "add -a NAME (dyno sets it from the profile's served_name)",
        )
    ]


@rule(
    "llama-no-metrics",
    "without --metrics there is no /metrics to cross-check tokens or speculation",
    engines=LLAMA,
)
def no_metrics(ctx: LintContext) -> list[Finding]:
    if ctx.has_flag("--metrics"):
        return []
    return [
        Finding(
            "llama-no-metrics",
            "warn",
            "--metrics is not set: /metrics answers 404, so the server's token counters and its "
            "speculative-decoding acceptance cannot be read (dyno still measures from the client)",
            "add --metrics",
        )
    ]


@rule(
    "llama-quantized-v-cache",
    "a quantized V cache needs flash attention; -fa off refuses to start",
    engines=LLAMA,
)
def quantized_v_cache(ctx: LintContext) -> list[Finding]:
    v_type = _flag(ctx, "-ctv", "--cache-type-v")
    fa = _flag(ctx, "-fa", "--flash-attn")
    if not isinstance(v_type, str) or v_type in UNQUANTIZED_CACHE:
        return []
    if fa not in ("off", "0", "false"):
        return []
    return [
        Finding(
            "llama-quantized-v-cache",
            "error",
            f"--cache-type-v {v_type} with -fa off: llama.cpp refuses a quantized V cache without "
            "flash attention, so the model does not load",
            "drop -fa off (auto turns it on), or keep the V cache at f16",
        )
    ]


def _keyed(ctx: LintContext) -> bool:
    return (
        bool(ctx.recipe.api_key_env)
        or _flag(ctx, "--api-key", "--api-key-file") is not None
        or "LLAMA_API_KEY" in ctx.env_names()
    )


@rule(
    "llama-exposed-without-api-key",
    "an open llama-server serves anyone, and /slots shows their prompts",
    engines=LLAMA,
)
def exposed(ctx: LintContext) -> list[Finding]:
    if ctx.recipe.host in LOOPBACK or _keyed(ctx):
        return []
    slots = "" if ctx.has_flag("--no-slots") else ", and /slots shows every user's prompt and answer"
    return [
        Finding(
            "llama-exposed-without-api-key",
            "error",
            f"llama-server binds {ctx.recipe.host} with no API key: anyone who can reach it can use "
            f"it{slots}",
            "bind 127.0.0.1, or require a key: export LLAMA_API_KEY (dyno: --api-key-env NAME); "
            "--no-slots hides /slots",
        )
    ]


@rule("llama-api-key-on-command-line", "a key in argv shows in `ps` and shell history", engines=LLAMA)
def api_key_on_command_line(ctx: LintContext) -> list[Finding]:
    if not isinstance(ctx.flag("--api-key"), str):
        return []
    return [
        Finding(
            "llama-api-key-on-command-line",
            "warn",
            "--api-key puts the key on the command line, where `ps` and shell history show it",
            "drop --api-key and export LLAMA_API_KEY (or use --api-key-file)",
        )
    ]
