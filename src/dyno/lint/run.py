"""Run every rule over a context; findings sorted errors first."""

from __future__ import annotations

from dyno.lint import rules_container, rules_hardware, rules_llamacpp, rules_serving, rules_spec
from dyno.lint.types import RULES, SEVERITY_ORDER, Finding, LintContext, Rule, rule

# the rule modules register themselves on import
_RULE_MODULES = (rules_serving, rules_spec, rules_hardware, rules_container, rules_llamacpp)


@rule("engine-rejects-args", "vLLM's own argument parser is the judge of its flags")
def engine_rejects_args(ctx: LintContext) -> list[Finding]:
    return [
        Finding(
            "engine-rejects-args",
            "error",
            f"vLLM's `serve` parser rejects this command: {err}",
            "fix or drop the flag; `vllm serve --help=all` lists what this version accepts",
        )
        for err in ctx.engine_errors
    ]


def rules() -> list[Rule]:
    return list(RULES.values())


def lint(ctx: LintContext) -> list[Finding]:
    findings = [f for r in RULES.values() if ctx.recipe.engine in r.engines for f in r.fn(ctx)]
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.id))


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
