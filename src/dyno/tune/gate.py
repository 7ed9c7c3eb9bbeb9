"""A candidate may not change the answers: the lossless gate, against the baseline candidate's answers.

The baseline (speculation off, or the sweep's first config) answers the
verify suites once, during its own trial; every later candidate answers the
same greedy requests and is judged against those stored answers, so the
baseline engine never has to come back up. Each judgement is stored as an
ordinary verify run (both sides' rows), so `dyno report` and `dyno compare`
read it like any other. The test depends on what the candidate changes
(`gate_test`): speculative decoding must be lossless, and faces the engine's
own bar (at least 80% of prompts identical under greedy decoding, and math
accuracy not significantly worse, exact McNemar); a dtype, quantization or
KV-cache dtype change always moves some tokens, so it faces "not worse" (math
not significantly worse; the match rate is shown, not used to reject).
"""

from __future__ import annotations

from dataclasses import replace

from dyno import provenance
from dyno.client import RequestRecord, loop
from dyno.engine.target import Target
from dyno.store import RunSink, record_run
from dyno.store.records import SideRecord
from dyno.tune.space import Candidate
from dyno.verify.evaluate import SIDES, GateTest, Verdict, facts, judge, verdict
from dyno.verify.runner import METHOD, send_side, side_info, store_candidate, store_sides
from dyno.verify.suites import SuitePlan, plan_suites

GATE_SUITES = ("lossless", "math")
# Knobs that change the numerics: their outputs differ a little by design.
QUALITY_KNOBS = frozenset({"dtype", "quantization", "kv_cache_dtype"})


def gate_test(baseline: Candidate, candidate: Candidate) -> GateTest:
    """ "quality" when the candidate changes a numerics knob from the baseline's, else "lossless"."""
    base = baseline.as_dict
    changed = {name for name, v in candidate.values if base.get(name) != v}
    return "quality" if changed & QUALITY_KNOBS else "lossless"


def gate_plans(limit: int, max_tokens: int) -> list[SuitePlan]:
    return plan_suites(GATE_SUITES, limit=limit, lossless_max_tokens=max_tokens)


def answers(target: Target, plans: list[SuitePlan], concurrency: int = 4) -> list[RequestRecord]:
    """The target's greedy answers to the gate's suites (tagged with the target's role)."""
    out: list[RequestRecord] = []
    loop.run(send_side(target, plans, concurrency, out.append, lambda _n: None))
    return out


def as_side(records: list[RequestRecord], side: str) -> list[RequestRecord]:
    return [replace(r, label=side) for r in records]


def judge_and_store(
    sink: RunSink,
    plans: list[SuitePlan],
    candidate: Target,
    candidate_answers: list[RequestRecord],
    baseline: SideRecord,
    baseline_answers: list[RequestRecord],
    tune_run_id: int,
    test: GateTest = "lossless",
) -> tuple[int, Verdict]:
    """One verify run: the candidate's answers against the stored baseline's, judged by `test`;
    returns its id and verdict."""
    prov = provenance.RunProvenance(hardware=provenance.machine())
    method = METHOD | {
        "suites": [p.name for p in plans],
        "sides": {"candidate": candidate.spec.ref, "baseline": baseline.ref},
        "tune_run": tune_run_id,
        "baseline_answers": "stored during the baseline candidate's trial",
        "test": test,
    }
    with record_run(sink, "verify", prov, method) as run:
        store_sides(run, {"candidate": side_info(candidate), "baseline": baseline})
        store_candidate(run, candidate)
        results = []
        rows = as_side(candidate_answers, SIDES[0]) + as_side(baseline_answers, SIDES[1])
        for p in plans:
            sid = run.start_scenario(p.scenario, p.config())
            mine = [run.record(r) for r in rows if r.scenario == p.scenario]
            result = judge(p.name, p.config(), mine)
            results.append(result)
            run.finish_scenario(sid, "complete", [], facts(result))
        v = verdict(results, test)
        if not v.passed:
            run.fail("; ".join(v.reasons))
    return run.id, v
