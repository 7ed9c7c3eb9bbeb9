"""`dyno verify URL --baseline URL2`: did the candidate config change the answers?

Exit codes: 0 when the verdict passes; 1 when the lossless match rate is
below 80% of prompts (under `--test lossless`, the default: speculation must
not change a token) or math accuracy is significantly worse on the candidate
(exact McNemar, p < 0.05, more items only the baseline got right; under
`--test quality`, for a dtype or quant change, tool-call validity too, and the
match rate is shown, not used);
1 also for a run that could not finish (engine would not start, endpoint
unreachable); 2 for bad input. Tool-call validity is reported, never gating.
"""

from __future__ import annotations

import typer

from dyno.cli._common import api_key_env_option, max_error_rate_option, served_model_option
from dyno.cli._run import finish, measure
from dyno.errors import UsageError
from dyno.report.show import Format
from dyno.verify import VerifyOptions, parse_suites, run_verify
from dyno.verify.evaluate import GATE_TESTS
from dyno.verify.runner import DEFAULT_CONCURRENCY
from dyno.verify.suites import LOSSLESS_MAX_TOKENS


def register(app: typer.Typer) -> None:
    @app.command()
    def verify(
        candidate: str = typer.Argument(..., help="Candidate: endpoint URL or profile name."),
        baseline: str = typer.Option(..., "--baseline", help="Baseline: endpoint URL or profile name."),
        suite: str = typer.Option("all", "--suite", help="lossless | math | tools | all (or a comma list)."),
        limit: int = typer.Option(None, "--limit", min=1, help="Only the first N items of each suite."),
        max_tokens: int = typer.Option(
            LOSSLESS_MAX_TOKENS, "--max-tokens", min=1, help="Output tokens per lossless prompt."
        ),
        concurrency: int = typer.Option(
            DEFAULT_CONCURRENCY, "--concurrency", min=1, help="Requests in flight per side."
        ),
        model: str = served_model_option("Candidate's served model (default: the only one)."),
        baseline_model: str = typer.Option(
            None, "--baseline-model", help="Baseline's served model (default: the only one)."
        ),
        api_key_env: str = api_key_env_option(
            "Env var holding an API key for both endpoints (never stored)."
        ),
        fmt: Format = typer.Option(Format.text, "--format", help="Output format."),
        max_error_rate: float = max_error_rate_option(),
        test: str = typer.Option(
            "lossless",
            "--test",
            help="lossless: answers identical (speculation); quality: not worse (a dtype or quant change).",
        ),
    ) -> None:
        """Compare a candidate with a baseline: greedy exact match, math accuracy, tool-call validity.

        Exits 1 when the lossless match rate is under 80% or math is significantly worse on the candidate,
        or more than --max-error-rate of the requests failed (grouped by kind in the message); 2 on bad
        input; 128+N when stopped by signal N.
        """
        if test not in GATE_TESTS:
            raise UsageError(f"--test takes {' or '.join(GATE_TESTS)}, not {test!r}")
        options = VerifyOptions(
            parse_suites(suite),
            limit,
            max_tokens,
            concurrency,
            api_key_env,
            "quality" if test == "quality" else "lossless",
        )
        result = measure(
            lambda s, store, bar: run_verify(
                s,
                store,
                candidate,
                baseline,
                candidate_model=model,
                baseline_model=baseline_model,
                options=options,
                **bar.hooks(),
                max_error_rate=max_error_rate,
            ),
            fmt,
        )
        finish(result)
