"""Lint a launch config and model folder for the traps that cost people hours (one function per rule)."""

from dyno.lint.context import build_context, detect_quant, read_model_folder
from dyno.lint.run import has_errors, lint, rules
from dyno.lint.types import RULES, Finding, LintContext, ModelFolder, Severity

__all__ = [
    "RULES",
    "Finding",
    "LintContext",
    "ModelFolder",
    "Severity",
    "build_context",
    "detect_quant",
    "has_errors",
    "lint",
    "read_model_folder",
    "rules",
]
