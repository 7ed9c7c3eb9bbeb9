"""One Target for every runner: resolution, the key, the served model, provenance, the stored ceiling."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dyno.bench import suites
from dyno.bench.runner import run_bench
from dyno.bench.summary import summarize_run
from dyno.engine import profiles
from dyno.engine.target import TargetSpec, ceiling_for, locate, open_target, prepare_targets
from dyno.errors import EndpointError, UsageError
from dyno.plan import CeilingInputs, ceiling_tok_s
from dyno.probe.runner import CheckOptions, run_check
from dyno.report.render import to_csv, to_markdown
from dyno.settings import Settings
from dyno.store import Store, connect
from dyno.store.migrations import MIGRATIONS
from dyno.verify import VerifyOptions, run_verify
from tests.fixtures.pacing import StartPacing


def test_a_url_a_profile_and_nothing_resolve_without_starting_anything(dyno_home: Path) -> None:
    s = Settings.from_env()
    url = locate(s, TargetSpec("http://127.0.0.1:9/v1/"))
    assert (url.url, url.profile, url.needs_start) == ("http://127.0.0.1:9", None, False)
    default = locate(s, TargetSpec())
    assert (default.profile, default.needs_start) == (profiles.DEFAULT_PROFILE, True)
    with pytest.raises(UsageError, match=r"known profiles: .*smollm2"):
        locate(s, TargetSpec("no-such-profile"))


def test_a_missing_key_is_one_usage_error_for_every_runner(
    pacing_server: StartPacing, dyno_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DYNO_TEST_NO_KEY", raising=False)
    srv = pacing_server()
    s = Settings.from_env()
    with Store(s.db_path) as store:
        calls = [
            lambda: run_bench(
                s, store, suites.select("quick"), TargetSpec(srv.url, api_key_env="DYNO_TEST_NO_KEY")
            ),
            lambda: run_check(s, store, CheckOptions(srv.url, api_key_env="DYNO_TEST_NO_KEY")),
            lambda: run_verify(
                s, store, srv.url, srv.url, options=VerifyOptions(api_key_env="DYNO_TEST_NO_KEY")
            ),
        ]
        for call in calls:
            with pytest.raises(UsageError, match="--api-key-env DYNO_TEST_NO_KEY: that environment variable"):
                call()
        assert store.list_runs() == []  # refused before anything was stored


def test_the_served_model_is_picked_or_checked(pacing_server: StartPacing, dyno_home: Path) -> None:
    srv = pacing_server(model="m-one")
    s = Settings.from_env()
    with open_target(s, TargetSpec(srv.url)) as t:
        assert t.model == "m-one" and t.engine == "vllm" and not t.launched_here
    with (
        pytest.raises(UsageError, match="does not serve 'other'"),
        open_target(s, TargetSpec(srv.url, "other")),
    ):
        pass
    with open_target(s, TargetSpec(srv.url, "other"), strict=False) as t:  # dyno check reports it instead
        assert t.model is None and t.problem is not None and "does not serve" in t.problem


class _CountingServer(ThreadingHTTPServer):
    hits: Counter[str]


class _Models(BaseHTTPRequestHandler):
    """Serves model `m` as vLLM would and counts every GET by path."""

    server: _CountingServer

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1
        body = {
            "/v1/models": {"data": [{"id": "m", "max_model_len": 2048}]},
            "/version": {"version": "0.32.0"},
        }
        payload = json.dumps(body.get(self.path, {})).encode()
        self.send_response(200 if self.path in body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def counting_server() -> Iterator[tuple[str, Counter[str]]]:
    srv = _CountingServer(("127.0.0.1", 0), _Models)
    srv.hits = Counter()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", srv.hits
    finally:
        srv.shutdown()
        srv.server_close()


def test_prepared_sides_are_probed_once_each_and_opened_without_asking_again(dyno_home: Path) -> None:
    s = Settings.from_env()
    with counting_server() as (url, hits):
        sides = prepare_targets(
            s, TargetSpec(url + "/v1", role="candidate"), TargetSpec(url, "m", role="baseline")
        )
        assert hits["/v1/models"] == 2  # one probe per side, both before anything is opened
        assert [loc.probed.model if loc.probed else None for loc in sides] == ["m", "m"]
        for loc in sides:
            with open_target(s, loc.spec, located=loc) as t:
                assert (t.url, t.model, t.engine, t.spec.role) == (url, "m", "vllm", loc.spec.role)
        assert hits["/v1/models"] == 2
        with open_target(s, TargetSpec(url)) as t:  # an unprepared open still asks
            assert t.model == "m"
        assert hits["/v1/models"] == 3


def test_preparing_refuses_a_side_it_cannot_use_before_anything_runs(
    dyno_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Settings.from_env()
    with counting_server() as (url, _hits):
        with pytest.raises(UsageError, match="does not serve 'other'"):
            prepare_targets(s, TargetSpec(url), TargetSpec(url, "other", role="baseline"))
        monkeypatch.delenv("DYNO_TEST_NO_KEY", raising=False)
        # a profile side's missing key is refused here too, not once its engine would start
        with pytest.raises(UsageError, match="DYNO_TEST_NO_KEY"):
            prepare_targets(s, TargetSpec(url), TargetSpec("smollm2", api_key_env="DYNO_TEST_NO_KEY"))
    with pytest.raises(EndpointError, match="cannot verify the baseline side"):
        prepare_targets(s, TargetSpec(url, role="baseline", purpose="verify"))


def test_a_bench_run_stores_its_ceiling_and_prints_each_decode_figure_against_it(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    # A server that calls itself by a catalog model's name, on hardware named by catalog id:
    # the run keeps the roofline inputs, and the report sets every decode figure against them.
    srv = pacing_server(model="smollm2-135m-instruct", ttft_s=0.01, itl_s=0.002)
    s = Settings.from_env()
    with Store(s.db_path) as store:
        res = run_bench(
            s,
            store,
            suites.select("quick", ["decode"], repeat=2),
            TargetSpec(srv.url, hardware="gb10"),
            suite="quick",
        )
        run = store.get_run(res.run_id)
        rep = summarize_run(store, res.run_id)
    assert run is not None and run.ceiling is not None
    inputs = CeilingInputs.from_dict(run.ceiling)
    assert inputs is not None and inputs.hardware == "gb10" and inputs.model == "smollm2-135m-instruct"
    decode = next(r for sc in rep.scenarios for r in sc.rows if r.metric == "decode_tok_s")
    reqs = [r for r in store_requests(s, res.run_id) if r.label == decode.label and r.ok]
    context = sum((r.prompt_tokens or 0) + (r.output_tokens or 0) / 2 for r in reqs) / len(reqs)
    assert decode.ceiling_tok_s == pytest.approx(ceiling_tok_s(inputs, round(context)))
    assert decode.mean is not None and f"{decode.mean / decode.ceiling_tok_s:.0%} of " in to_markdown(rep)
    # Key properties ride on every CSV row, the workload among them.
    assert run.key_properties is not None and run.key_properties["workload"]["suite"] == "quick"
    line = to_csv(rep).splitlines()
    assert "model_revision" in line[0] and "quant" in line[0] and "suite" in line[0]


def test_an_unknown_model_or_a_remote_engine_gets_no_ceiling(dyno_home: Path) -> None:
    s = Settings.from_env()
    assert ceiling_for(s, "gb10", "http://127.0.0.1:1", "my-private-finetune") is None
    # Not this machine and no --hardware: the roofline is unknown, not guessed from here.
    assert ceiling_for(s, None, "http://192.0.2.1:8000", "smollm2-135m-instruct") is None
    with_hw = ceiling_for(s, "gb10", "http://192.0.2.1:8000", "smollm2-135m-instruct")
    assert with_hw is not None and with_hw.hardware == "gb10"


def store_requests(s: Settings, run_id: int) -> list:  # type: ignore[type-arg]
    with Store(s.db_path) as store:
        return store.requests(run_id)


def test_check_verdicts_have_their_own_table_and_old_runs_move_into_it(tmp_path: Path) -> None:
    # A store written before m004: a check run whose verdicts sit in scenario rows.
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    from dyno.store import migrate

    migrate(db, MIGRATIONS[:3])
    db.execute(
        "INSERT INTO runs (kind, status, started_at, dyno_version) VALUES ('check', 'complete', 'then', '0')"
    )
    db.execute(
        "INSERT INTO scenarios (run_id, name, status, config, notes, facts, started_at)"
        " VALUES (1, 'tools', 'fail', ?, ?, ?, 'then')",
        (json.dumps({"title": "tool calling"}), json.dumps(["HTTP 400 ...", "add the flags"]), "{}"),
    )
    db.close()
    with Store(path) as store:
        checks = store.checks(1)
        assert store.scenarios(1) == []
    assert [(c.check_id, c.title, c.status, c.evidence, c.fix) for c in checks] == [
        ("tools", "tool calling", "fail", "HTTP 400 ...", "add the flags")
    ]
    assert connect(path).execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)


def test_dyno_report_of_a_check_run_reads_the_checks_table(
    pacing_server: StartPacing, dyno_home: Path
) -> None:
    srv = pacing_server()
    s = Settings.from_env()
    with Store(s.db_path) as store:
        rep = run_check(s, store, CheckOptions(srv.url))
    out = subprocess.run(
        [sys.executable, "-m", "dyno.cli", "report", str(rep.run_id), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    doc = json.loads(out.stdout)
    assert [c["id"] for c in doc["checks"]] == [r.id for r in rep.results]
