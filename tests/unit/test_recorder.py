"""The one run life cycle (`record_run`): status, note, exit code and stored ids, the same for every kind."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from dyno.client.records import RequestRecord
from dyno.signals import Terminated
from dyno.store import Store, record_run, stored_runs
from dyno.store.records import LaunchRecord, SideRecord
from dyno.verify.runner import store_sides


def ok(label: str = "r") -> RequestRecord:
    return RequestRecord(params={}, t_sent_ns=0, http_status=200, label=label, scenario="s")


def bad(label: str = "r") -> RequestRecord:
    return RequestRecord(
        params={},
        t_sent_ns=0,
        http_status=500,
        error_kind="http_5xx",
        error_message="x",
        label=label,
        scenario="s",
    )


def test_a_run_that_runs_through_is_complete_and_exits_0(tmp_path: Path) -> None:
    with Store(tmp_path / "d.db") as store:
        with record_run(store, "bench") as run:
            run.record(ok())
            run.record(ok())
        out = run.outcome
        row = store.get_run(run.id)
    assert (out.status, out.exit_code, out.message, out.passed) == ("complete", 0, "", True)
    assert row is not None and row.status == "complete" and row.n_requests == 2


def test_a_failed_request_fails_the_run_unless_it_is_within_the_error_rate(tmp_path: Path) -> None:
    with Store(tmp_path / "d.db") as store:
        with record_run(store, "bench") as strict:
            for r in (ok(), ok(), ok(), bad()):
                strict.record(r)
        with record_run(store, "bench", max_error_rate=0.3) as lenient:
            for r in (ok(), ok(), ok(), bad()):
                lenient.record(r)
        with record_run(store, "bench") as every:
            every.record(bad())
    assert (
        strict.outcome.exit_code == 1
        and strict.outcome.status == "complete"
        and "http_5xx" in strict.outcome.message
    )
    assert lenient.outcome.exit_code == 0 and "within --max-error-rate 0.3" in lenient.outcome.tolerated
    assert every.outcome.status == "failed" and every.outcome.exit_code == 1


def test_a_verdict_that_fails_keeps_the_status_and_says_why(tmp_path: Path) -> None:
    with Store(tmp_path / "d.db") as store:
        with record_run(store, "tune") as run:
            run.record(ok())
            run.note("resumed after it was stopped (SIGTERM)")
            run.fail("no winner: no candidate was measured and kept its answers")
        row = store.get_run(run.id)
    assert run.outcome.status == "complete" and run.outcome.exit_code == 1
    assert run.outcome.message == "no winner: no candidate was measured and kept its answers"
    assert row is not None and "no winner" in (row.note or "") and "resumed" in (row.note or "")


def test_a_signal_closes_the_run_partial_and_names_it_on_the_way_up(tmp_path: Path) -> None:
    with Store(tmp_path / "d.db") as store:
        with (
            pytest.raises(KeyboardInterrupt) as caught,
            record_run(store, "tune") as outer,
            record_run(store, "bench") as inner,
        ):
            inner.record(ok())
            raise Terminated(signal.SIGTERM)
        rows = {rid: store.get_run(rid) for rid in (outer.id, inner.id)}
    # innermost first: the command names both runs it kept, without guessing the latest one
    assert stored_runs(caught.value) == (inner.id, outer.id)
    for row in rows.values():
        assert row is not None and row.status == "partial" and "terminated by SIGTERM" in (row.note or "")
    assert inner.outcome.exit_code == 1


def test_an_error_inside_the_run_closes_it_partial_with_the_cause(tmp_path: Path) -> None:
    with Store(tmp_path / "d.db") as store:
        with pytest.raises(RuntimeError), record_run(store, "verify") as run:
            run.record(ok())
            raise RuntimeError("the baseline would not start")
        row = store.get_run(run.id)
    assert row is not None and row.status == "partial" and row.note == "stopped: the baseline would not start"


def test_a_forgiven_request_is_measured_not_failed(tmp_path: Path) -> None:
    with Store(tmp_path / "d.db") as store, record_run(store, "check") as run:
        run.forgive(run.record(bad("tools")))
        run.record(ok())
    assert run.outcome.exit_code == 0 and run.tally.failed == 0


def test_a_side_keeps_its_launch_flags_through_the_store(tmp_path: Path) -> None:
    # the tune gate stored the baseline side without its launch (a key it never had): read back as no flags
    launch = {"profile": "smollm2", "recipe": {"flags": ["--enforce-eager", "--dtype", "float32"]}}
    base = SideRecord(ref="smollm2", url="http://127.0.0.1:1", launch=LaunchRecord.model_validate(launch))
    cand = SideRecord(ref="http://127.0.0.1:2", url="http://127.0.0.1:2")
    with Store(tmp_path / "d.db") as store:
        with record_run(
            store, "verify", method={"sides": {"candidate": cand.ref, "baseline": base.ref}}
        ) as run:
            store_sides(run, {"candidate": cand, "baseline": base})
        row = store.get_run(run.id)
    assert row is not None and row.launch_config == {"candidate": None, "baseline": launch}
    back = row.side("baseline")
    assert back.launch is not None and back.launch.flags == ["--enforce-eager", "--dtype", "float32"]
    assert row.side("candidate").launch is None and row.side("candidate").engine_name == "vllm"
