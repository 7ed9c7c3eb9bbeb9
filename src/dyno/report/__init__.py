"""Reports rendered from the store: markdown, csv, json (and the terminal tables)."""

from dyno.report.build import Report, ScenarioReport, build_report, resolve_run_id
from dyno.report.render import RENDERERS, pivot, to_csv, to_json, to_markdown

__all__ = [
    "RENDERERS",
    "Report",
    "ScenarioReport",
    "build_report",
    "pivot",
    "resolve_run_id",
    "to_csv",
    "to_json",
    "to_markdown",
]
