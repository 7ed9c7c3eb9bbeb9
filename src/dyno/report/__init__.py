"""Renderings of finished, typed results: markdown, csv, json, HTML and the terminal tables.

Nothing here derives a figure: a bench run's figures come from `dyno.bench.summary`,
a tune's winner from `dyno.tune.result`.
"""

from dyno.report.render import RENDERERS, pivot, to_csv, to_json, to_markdown

__all__ = ["RENDERERS", "pivot", "to_csv", "to_json", "to_markdown"]
