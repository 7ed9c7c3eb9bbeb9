"""What a report opens with: the few figures a reader came for, and one sentence on what limits them.

The tables below hold every figure; the headline picks, when the run has them:
single-stream decode (with its share of the roofline), TTFT for a short prompt,
the throughput at the most concurrent level, and each SLO's verdict per level.
The sentence says what bounds the figures as far as the run can tell: the
share of the memory-bandwidth roofline decode reached, and what the batch did
to each stream's speed.
"""

from __future__ import annotations

from dataclasses import dataclass

from dyno.bench.scenario import ResultRow
from dyno.bench.summary import RunSummary


@dataclass(frozen=True)
class Headline:
    figures: list[tuple[str, str]]  # (what, value), in reading order
    sentence: str  # "" when the run says nothing about a limit


def _levels(rows: list[ResultRow], metric: str) -> list[tuple[float, ResultRow]]:
    out = []
    for r in rows:
        if r.metric != metric or r.mean is None:
            continue
        try:
            out.append((float(r.label.lstrip("cr")), r))
        except ValueError:
            continue
    return sorted(out, key=lambda p: p[0])


def headline(rep: RunSummary) -> Headline:
    figs: list[tuple[str, str]] = []
    said: list[str] = []
    decode = rep.scenario("decode")
    dec = min(_levels(decode.rows, "decode_tok_s"), default=None, key=lambda p: p[0]) if decode else None
    if dec is not None and dec[1].mean is not None:
        r, mean = dec[1], dec[1].mean
        share = (
            f" ({mean / r.ceiling_tok_s:.0%} of the {r.ceiling_tok_s:.0f} tok/s roofline)"
            if r.ceiling_tok_s
            else ""
        )
        figs.append((f"decode, 1 stream, {r.label} tokens", f"{mean:.1f} tok/s{share}"))
        if r.ceiling_tok_s and r.mean:
            frac = r.mean / r.ceiling_tok_s
            if r.ceiling_why:  # the CPU's matmul rate for the served dtype, not bandwidth, is the ceiling
                said.append(
                    f"single-stream decode reaches {frac:.0%} of its ceiling, which is {r.ceiling_why}"
                )
            else:
                said.append(
                    f"single-stream decode reaches {frac:.0%} of what memory bandwidth allows"
                    + (
                        ": something other than bandwidth (compute, the engine) bounds it"
                        if frac < 0.5
                        else ""
                    )
                )
    ttft = rep.scenario("ttft")
    short = (
        next((r for r in ttft.rows if r.metric == "ttft_ms" and r.label == "short"), None) if ttft else None
    )
    if short is not None and short.median is not None:
        figs.append(("TTFT, short prompt (p50)", f"{short.median:.0f} ms"))
    for name, metric in (("concurrency", "aggregate_tok_s"), ("workload", "output_tok_s")):
        sc = rep.scenario(name)
        pts = _levels(sc.rows, metric) if sc else []
        if not pts or sc is None:
            continue
        top = pts[-1][1]
        figs.append((f"{name}: throughput at {top.label}", f"{top.mean:.1f} tok/s"))
        per = _levels(sc.rows, "per_request_tok_s")
        first, last = (per[0][1], per[-1][1]) if len(per) >= 2 else (None, None)
        if first is not None and last is not None and first.mean and last.mean:
            grows = (top.mean or 0) > 1.05 * (pts[0][1].mean or 0)
            total = (
                f"the total grows from {pts[0][1].mean:.1f} to {top.mean:.1f}"
                if grows
                else "the total does not grow: the server is saturated"
            )
            said.append(
                f"each stream's speed goes from {first.mean:.1f} tok/s at {first.label} to {last.mean:.1f} "
                f"at {last.label} ({last.mean / first.mean:.0%}) and {total}"
            )
        for _, r in _levels(sc.rows, "slo_attainment"):
            if r.interval is not None and r.mean is not None:
                figs.append(
                    (
                        f"{name}: SLO attainment at {r.label}",
                        f"{r.mean:.0%} [{r.interval[0]:.0%}, {r.interval[1]:.0%}]",
                    )
                )
    energy = (rep.run.method or {}).get("energy") or {}
    per_tok = [r for s in rep.scenarios for r in s.rows if r.metric == "energy_j_per_tok" and r.mean]
    if per_tok:
        best = min(per_tok, key=lambda r: r.mean or 0.0)
        idle = f"; idle {energy['idle_w']:.0f} W" if isinstance(energy.get("idle_w"), int | float) else ""
        figs.append(
            (
                "GPU energy per output token",
                f"{best.mean:.3f} J in {best.scenario} (GPU rail, not wall power{idle})",
            )
        )
    elif energy.get("note"):
        figs.append(("GPU energy", "not measured here (no NVML)"))
    sentence = "; ".join(said)
    return Headline(figs, sentence[:1].upper() + sentence[1:] + "." if sentence else "")
