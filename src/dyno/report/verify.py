"""The report of a `verify` run, judged again from its stored rows, in md, json, csv or terminal tables.

Nothing here trusts the facts the runner stored: each suite is re-judged
from its scenario config (items, expected answers, tools) and its raw request
rows, so a re-render gives the same answer as the run itself did.

JSON keys (`--format json`):

    run        id, kind, status, started_at, finished_at, dyno_version, note, hardware
    sides      {candidate, baseline}: ref (URL or profile as given), url, profile, model,
               engine_version, launch_flags (list, or null when dyno did not launch it),
               started_by_verify
    verdict    passed (bool), exit_code (0 or 1), reasons (why it failed), test ("lossless" or "quality")
    suites     per suite that ran, keyed lossless / math / tools:
      lossless  status, n, matches, match_rate, bar, passed, max_tokens,
                by_type {code|prose|json: {matches, n}},
                mismatches [{index, id, content_type, char_index, word_index, common_context,
                             candidate_tail, baseline_tail, candidate_chars, baseline_chars,
                             candidate_error, baseline_error}]
                (char_index..baseline_chars are null when a side failed)
      math      status, n, max_tokens, candidate_accuracy, baseline_accuracy,
                mcnemar {n, both_right, both_wrong, b, c, p_value, significant, candidate_worse}
                (b: only the baseline right; c: only the candidate right),
                items [{index, id, expected, candidate_answer, baseline_answer,
                        candidate_correct, baseline_correct, candidate_error, baseline_error}]
      tools     status, n, max_tokens, candidate_validity, baseline_validity,
                candidate_reasons {reason: count}, baseline_reasons, mcnemar {...as math},
                items [{index, id, expected_function,
                        candidate {valid, reason, detail, function, arguments}, baseline {...}}]
      every suite also has notes (failed requests, missing answers)

Rates are fractions in [0, 1]; null when a suite has no items.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dyno.client.toolcheck import ToolVerdict
from dyno.report.render import md_table
from dyno.verify.evaluate import SIDES, LosslessResult, MathResult, ToolsResult, Verdict, facts
from dyno.verify.stats import ALPHA, PairedOutcome
from dyno.verify.summary import SideInfo, SuiteSection, VerifyReport

# ---- shared wording ---------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _oneline(s: str) -> str:
    """Newlines and tabs made visible, so a continuation reads on one line."""
    return s.replace("\n", "↵").replace("\t", "→")


def _where(s: SideInfo) -> str:
    return s.url or s.ref if s.profile is None else f"{s.url or '-'} (profile {s.profile})"


def _mcnemar_line(p: PairedOutcome) -> str:
    sig = "yes" if p.significant else "no"
    return (
        f"b (only baseline right) = {p.b}, c (only candidate right) = {p.c}, "
        f"exact McNemar p = {p.p_value:.4g}, significant at {ALPHA}: {sig}"
    )


TEST_WORDS = {
    "lossless": "lossless (answers identical: the test for speculative decoding)",
    "quality": "not worse (math and tools by exact McNemar; the match rate shown, not used: the test for a "
    "dtype or quant change)",
}


def _verdict_line(v: Verdict, test: str) -> str:
    return ("PASS" if v.passed else "FAIL: " + "; ".join(v.reasons)) + f" · test: {TEST_WORDS[test]}"


# ---- json -------------------------------------------------------------------------------------


def _suite_dict(s: SuiteSection) -> dict[str, Any]:
    return {"status": s.status, "max_tokens": s.max_tokens} | facts(s.result) | {"notes": s.notes}


def to_json(rep: VerifyReport) -> str:
    run = rep.run
    v = rep.verdict
    doc = {
        "run": {
            "id": run.id,
            "kind": run.kind,
            "status": run.status,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "dyno_version": run.dyno_version,
            "note": run.note,
            "hardware": run.hardware,
        },
        "sides": {s.label: {k: x for k, x in asdict(s).items() if k != "label"} for s in rep.sides},
        "verdict": {
            "passed": v.passed,
            "exit_code": v.exit_code,
            "reasons": list(v.reasons),
            "test": rep.test,
        },
        "suites": {s.name: _suite_dict(s) for s in rep.suites},
    }
    return json.dumps(doc, indent=2, default=str) + "\n"


# ---- csv: one row per item ----------------------------------------------------------------------


def _item_rows(rep: VerifyReport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for s in rep.suites:
        r = s.result
        cells: list[tuple[int, str, str, str, str]] = []  # index, id, candidate, baseline, detail
        if isinstance(r, LosslessResult):
            for li in r.items:
                d = li.divergence
                detail = f"char {d.char_index}, word {d.word_index}" if d else ""
                errors = "; ".join(e for e in (li.candidate_error, li.baseline_error) if e)
                outcome = "match" if li.match else "mismatch"
                cells.append((li.index, li.id, outcome, outcome, detail or errors))
        elif isinstance(r, MathResult):
            for m in r.items:
                detail = (
                    f"expected {m.expected}; candidate {m.candidate_answer}; baseline {m.baseline_answer}"
                )
                cand, base = (
                    "correct" if ok else "wrong" for ok in (m.candidate_correct, m.baseline_correct)
                )
                cells.append((m.index, m.id, cand, base, detail))
        else:
            for t in r.items:
                detail = "; ".join(x for x in (t.candidate.detail, t.baseline.detail) if x)
                cells.append((t.index, t.id, t.candidate.reason, t.baseline.reason, detail))
        for index, item_id, cand, base, detail in cells:
            rows.append(
                {
                    "run_id": rep.run.id,
                    "suite": s.name,
                    "index": index,
                    "id": item_id,
                    "candidate": cand,
                    "baseline": base,
                    "detail": detail,
                }
            )
    return rows


def to_csv(rep: VerifyReport) -> str:
    rows = _item_rows(rep)
    buf = io.StringIO()
    w = csv.DictWriter(
        buf,
        fieldnames=["run_id", "suite", "index", "id", "candidate", "baseline", "detail"],
        lineterminator="\n",
    )
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# ---- markdown ---------------------------------------------------------------------------------


def _sides_rows(rep: VerifyReport) -> list[list[str]]:
    return [
        [
            s.label,
            _where(s),
            s.model or "-",
            f"{s.engine} {s.engine_version}" if s.engine_version else "-",
            " ".join(s.launch_flags) if s.launch_flags is not None else "(not launched by dyno)",
        ]
        for s in rep.sides
    ]


_SIDES_HEADER = ["side", "endpoint", "model", "engine", "launch flags"]


def to_markdown(rep: VerifyReport) -> str:
    run = rep.run
    parts = [f"## dyno run {run.id} · verify · {run.status}", "", md_table(_SIDES_HEADER, _sides_rows(rep))]
    if run.note:
        parts += ["", f"> {run.note}"]
    for s in rep.suites:
        r = s.result
        parts += ["", f"### {s.name} ({s.status}, {len(r.items)} items, max_tokens {s.max_tokens})", ""]
        if isinstance(r, LosslessResult):
            mark = (
                ("PASS" if r.passed else "FAIL")
                if rep.test == "lossless"
                else "shown, not used (test: not worse)"
            )
            parts.append(
                f"match rate **{_pct(r.match_rate)}** ({r.matches}/{r.n}), bar ≥ {r.bar:.0%}: **{mark}**"
            )
            by = [[k, f"{m}/{n}", _pct(m / n)] for k, (m, n) in r.by_type().items()]
            parts += ["", md_table(["content", "identical", "rate"], by)]
            for i in r.items:
                if not i.match:
                    parts += [
                        "",
                        *_md_mismatch(i.id, i.index, i.divergence, i.candidate_error, i.baseline_error),
                    ]
        elif isinstance(r, MathResult):
            p = r.paired
            parts.append(
                md_table(
                    ["side", "correct", "accuracy"],
                    [
                        ["candidate", f"{p.candidate_right}/{p.n}", _pct(r.accuracy("candidate"))],
                        ["baseline", f"{p.baseline_right}/{p.n}", _pct(r.accuracy("baseline"))],
                    ],
                )
            )
            parts += ["", _mcnemar_line(p)]
            disc = [m for m in r.items if m.candidate_correct != m.baseline_correct]
            if disc:
                rows = [[m.id, m.expected, str(m.candidate_answer), str(m.baseline_answer)] for m in disc]
                parts += [
                    "",
                    "Discordant items:",
                    "",
                    md_table(["id", "expected", "candidate", "baseline"], rows),
                ]
        else:
            parts.append(
                md_table(
                    ["side", "valid", "rate", "failures"],
                    [_tools_row(r, side) for side in SIDES],
                )
            )
            parts += ["", _mcnemar_line(r.paired)]
            bad = [
                [t.id, side, getattr(t, side).reason, getattr(t, side).detail]
                for t in r.items
                for side in SIDES
                if not getattr(t, side).valid
            ]
            if bad:
                parts += ["", md_table(["id", "side", "reason", "detail"], bad)]
        parts += [f"- {n}" for n in s.notes]
    parts += ["", f"**verdict: {_verdict_line(rep.verdict, rep.test)}**"]
    return "\n".join(parts) + "\n"


def _md_mismatch(item_id: str, index: int, d: Any, cand_err: str | None, base_err: str | None) -> list[str]:
    if d is None:
        errs = [f"candidate: {cand_err}" if cand_err else "", f"baseline: {base_err}" if base_err else ""]
        return [f"**{item_id}** (#{index}): no comparison, " + "; ".join(e for e in errs if e)]
    return [
        f"**{item_id}** (#{index}) diverges at char {d.char_index} (word {d.word_index})",
        "",
        "```text",
        f"{'context':<10} …{_oneline(d.common_context)}",
        f"{'candidate':<10} {_oneline(d.candidate_tail)}",
        f"{'baseline':<10} {_oneline(d.baseline_tail)}",
        "```",
    ]


def _tools_row(r: ToolsResult, side: str) -> list[str]:
    p = r.paired
    valid = p.candidate_right if side == "candidate" else p.baseline_right
    failures = ", ".join(f"{k} {n}" for k, n in r.reasons(side).items() if k != "ok") or "-"
    return [side, f"{valid}/{p.n}", _pct(r.validity_rate(side)), failures]


# ---- terminal ---------------------------------------------------------------------------------


def print_text(rep: VerifyReport, console: Console) -> None:
    run = rep.run
    console.print(f"[bold]run {run.id}[/] · verify · {run.status}")
    sides = Table(*_SIDES_HEADER, title_justify="left")
    for row in _sides_rows(rep):
        sides.add_row(*(Text(c) for c in row))
    console.print(sides)
    if run.note:
        console.print(Text(f"note: {run.note}", style="yellow"))
    for s in rep.suites:
        r = s.result
        console.print(
            Text(f"\n{s.name} ({s.status}, {len(r.items)} items, max_tokens {s.max_tokens})", style="bold")
        )
        if isinstance(r, LosslessResult):
            _text_lossless(r, console, rep.test)
        elif isinstance(r, MathResult):
            _text_math(r, console)
        else:
            _text_tools(r, console)
        for n in s.notes:
            console.print(Text(f"  note: {n}", style="yellow"))
    v = rep.verdict
    console.print()
    console.print(
        Text(f"verdict: {_verdict_line(v, rep.test)}", style="bold green" if v.passed else "bold red")
    )


def _text_lossless(r: LosslessResult, console: Console, test: str) -> None:
    mark = Text("PASS", style="bold green") if r.passed else Text("FAIL", style="bold red")
    if test != "lossless":
        mark = Text("shown, not used (test: not worse)")
    console.print(
        Text.assemble(
            "  match rate ", (_pct(r.match_rate), "bold"), f" ({r.matches}/{r.n}), bar ≥ {r.bar:.0%}: ", mark
        )
    )
    t = Table("content", "identical", "rate")
    for k, (m, n) in r.by_type().items():
        t.add_row(k, f"{m}/{n}", _pct(m / n))
    console.print(t)
    for i in r.items:
        if i.match:
            continue
        d = i.divergence
        if d is None:
            errs = "; ".join(
                f"{side}: {e}"
                for side, e in (("candidate", i.candidate_error), ("baseline", i.baseline_error))
                if e
            )
            console.print(Text(f"  {i.id} (#{i.index}): no comparison, {errs}", style="red"))
            continue
        side_by_side = Table(
            "candidate",
            "baseline",
            title=f"{i.id} (#{i.index}) diverges at char {d.char_index} (word {d.word_index})",
            title_justify="left",
            expand=True,
        )
        ctx = "…" + _oneline(d.common_context)
        side_by_side.add_row(
            *(
                Text.assemble((ctx, "dim"), (_oneline(tail), "bold"))
                for tail in (d.candidate_tail, d.baseline_tail)
            )
        )
        console.print(side_by_side)


def _text_math(r: MathResult, console: Console) -> None:
    p = r.paired
    t = Table("side", "correct", "accuracy")
    t.add_row("candidate", f"{p.candidate_right}/{p.n}", _pct(r.accuracy("candidate")))
    t.add_row("baseline", f"{p.baseline_right}/{p.n}", _pct(r.accuracy("baseline")))
    console.print(t)
    console.print(Text("  " + _mcnemar_line(p), style="red" if p.candidate_worse else ""))
    disc = [m for m in r.items if m.candidate_correct != m.baseline_correct]
    if disc:
        d = Table("id", "expected", "candidate", "baseline", title="discordant items", title_justify="left")
        for m in disc:
            d.add_row(m.id, m.expected, str(m.candidate_answer), str(m.baseline_answer))
        console.print(d)


def _text_tools(r: ToolsResult, console: Console) -> None:
    t = Table("side", "valid", "rate", "failures")
    for side in SIDES:
        t.add_row(*_tools_row(r, side))
    console.print(t)
    console.print(Text("  " + _mcnemar_line(r.paired)))
    bad = Table("id", "side", "reason", "detail", title="invalid calls", title_justify="left")
    n_bad = 0
    for item in r.items:
        for side in SIDES:
            v: ToolVerdict = getattr(item, side)
            if not v.valid:
                bad.add_row(item.id, side, v.reason, Text(v.detail[:160]))
                n_bad += 1
    if n_bad:
        console.print(bad)


RENDERERS = {"md": to_markdown, "json": to_json, "csv": to_csv}
