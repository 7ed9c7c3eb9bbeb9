"""A capacity search drawn: attainment against load with its target, throughput with the knee, and
the server's running and waiting requests over the run with each probe's level marked."""

from __future__ import annotations

from dyno.capacity.result import KNEE_MIN_N, CapacityResult
from dyno.report.plots import COLOURS, Plot, new_axes

VERDICT_COLOURS = {
    "pass": COLOURS[2],
    "fail": COLOURS[1],
    "indeterminate": COLOURS[3],
    "client_bound": COLOURS[7],
}


def _axis(rep: CapacityResult) -> str:
    return "streams in flight" if rep.unit == "streams" else f"{rep.unit} in conversations"


def capacity_plots(rep: CapacityResult) -> list[Plot]:
    probes = sorted((p for p in rep.probes if p.attainment.counted), key=lambda p: p.level)
    plots: list[Plot] = []
    if probes:
        fig, ax = new_axes("attainment vs load (95% Wilson intervals)", _axis(rep), "requests within SLO")
        for p in probes:
            a = p.attainment
            rate = a.rate or 0.0
            ax.errorbar(
                [p.level],
                [rate],
                yerr=[[rate - a.low], [a.high - rate]],
                fmt="o",
                color=VERDICT_COLOURS.get(p.verdict, COLOURS[0]),
                capsize=3,
            )
        ax.axhline(
            rep.target, color=COLOURS[0], linestyle="--", linewidth=1, label=f"target {rep.target:.0%}"
        )
        if rep.answer.capacity:
            ax.axvline(
                rep.answer.capacity, color=COLOURS[2], linewidth=1, label=f"capacity {rep.answer.capacity}"
            )
        ax.set_ylim(-0.02, 1.05)
        ax.legend(fontsize=8, loc="lower left")
        plots.append(Plot("capacity-attainment", fig.axes[0].get_title(), fig))
    # A level decided in a handful of requests measured its throughput over a moment: not drawn.
    curve = [
        (p.level, p.output_tok_s) for p in probes if p.output_tok_s and p.attainment.counted >= KNEE_MIN_N
    ]
    if len(curve) >= 2:
        title = f"output throughput vs load (levels of >= {KNEE_MIN_N} judged requests)"
        fig, ax = new_axes(title, _axis(rep), "tok/s")
        ax.plot([x for x, _ in curve], [y for _, y in curve], marker="o", color=COLOURS[0])
        if rep.knee is not None:
            ax.axvline(rep.knee.level, color=COLOURS[3], linestyle=":", label=f"knee {rep.knee.level}")
            ax.legend(fontsize=8)
        plots.append(Plot("capacity-throughput", fig.axes[0].get_title(), fig))
    series = [(p, p.series) for p in rep.probes if len(p.series)]
    if series and any(s.peak("running") is not None for _, s in series):
        fig, ax = new_axes("the server's requests over the run, probe by probe", "seconds", "requests")
        offset = 0.0
        for i, (p, s) in enumerate(series):
            xs = [offset + t for t in s.t_s]
            for name, colour in (("running", COLOURS[0]), ("waiting", COLOURS[1])):
                ys = getattr(s, name)
                pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
                if pts:
                    label = name if i == 0 else None
                    ax.step([x for x, _ in pts], [y for _, y in pts], where="post", color=colour, label=label)
            end = offset + max(p.seconds, s.t_s[-1] if s.t_s else 0.0)
            ax.axvspan(offset, end, color=VERDICT_COLOURS.get(p.verdict, COLOURS[7]), alpha=0.08)
            ax.text((offset + end) / 2, 0, str(p.level), ha="center", va="bottom", fontsize=7)
            offset = end
        ax.legend(fontsize=8, loc="upper left")
        plots.append(Plot("capacity-series", fig.axes[0].get_title(), fig))
    return plots
