"""A capacity search rendered: the plain sentence first, then the probes that decided it.

level | verdict | attainment [95% interval] of n | TTFT p50 | TPOT p50 | goodput | tok/s | why
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from dyno.capacity.result import CapacityResult, ProbeView, quantile_name
from dyno.report.render import fit_width, md_table


def header(rep: CapacityResult) -> list[str]:
    q = quantile_name(rep.target)
    return [rep.unit, "verdict", "attainment [95%] of n", f"TTFT {q} ms", f"TPOT {q} ms",
            "goodput req/s", "tok/s", "s"]  # fmt: skip


def _f(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def _row(p: ProbeView) -> list[str]:
    a = p.attainment
    att = "-" if a.rate is None else f"{a.rate:.0%} [{a.low:.0%}, {a.high:.0%}] of {a.counted}"
    return [
        str(p.level),
        p.verdict,
        att,
        _f(p.ttft_q_ms, ".0f"),
        _f(p.tpot_q_ms),
        _f(a.goodput_req_s, ".2f"),
        _f(p.output_tok_s),
        _f(p.seconds),
    ]


def lines(rep: CapacityResult) -> list[str]:
    lines = [rep.sentence]
    if rep.knee_sentence:
        lines.append(rep.knee_sentence)
    lines += [
        f"{p.level} {rep.unit}: {p.why}" for p in rep.probes if p.verdict in ("indeterminate", "client_bound")
    ]
    lines.append(
        f"{len(rep.probes)} probes, {rep.requests} requests, {rep.seconds:.0f} s. Each probe stops once its "
        f"attainment is shown above or below {rep.target:.0%} (a sequential test, errors <= 5% each way); "
        "ramp-up and drain requests are stored, not judged."
    )
    return lines


def probe_rows(rep: CapacityResult) -> list[list[str]]:
    return [_row(p) for p in sorted(rep.probes, key=lambda p: p.level)]


def print_capacity(rep: CapacityResult, console: Console) -> None:
    console.print(f"[bold]{rep.sentence}[/]", highlight=False)
    for line in lines(rep)[1:]:
        console.print(line, highlight=False)
    cols, body = fit_width(header(rep), probe_rows(rep), console.width)
    table = Table(
        *cols,
        title=f"dyno capacity · run {rep.run.id} · {rep.run.endpoint} ({rep.run.model}) · {rep.run.status}",
        title_justify="left",
    )
    for r in body:
        table.add_row(*r)
    console.print(table)


def capacity_markdown(rep: CapacityResult) -> str:
    head = [f"# Capacity: run {rep.run.id}", "", *(f"{x}  " for x in lines(rep)), ""]
    body = md_table(header(rep), probe_rows(rep))
    return "\n".join(head) + body


def capacity_json(rep: CapacityResult) -> str:
    return json.dumps(rep.as_json(), indent=2)
