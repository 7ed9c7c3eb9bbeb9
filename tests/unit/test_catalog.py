"""The shipped catalog: it loads, every number has a source, architectures add up to the model cards."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import pytest

from dyno.catalog import (
    catalog,
    find_drafter,
    find_model,
    get_hardware,
    get_model,
    get_quant,
    hardware_ids,
)
from dyno.catalog import cpu as cpu_probe
from dyno.errors import UsageError
from dyno.plan import bytes_per_token, decode_ceiling_tok_s, param_counts

FIXTURES = Path(__file__).parent.parent / "fixtures" / "models"

REQUIRED_HARDWARE = {
    "gb10",
    "h100-sxm",
    "h100-pcie",
    "h200",
    "b200",
    "a100-80g",
    "l40s",
    "rtx-5090",
    "rtx-pro-6000",
    "cpu",
}
REQUIRED_MODELS = {
    "gemma-4-26b-a4b-it",
    "gemma-4-26b-a4b",
    "gemma-4-31b-it",
    "gemma-4-e4b-it",
    "gemma-4-e2b-it",
    "qwen3-30b-a3b",
    "smollm2-135m-instruct",
    "gemma3-270m-base",
}
NUMERIC_HW_FIELDS = (
    "memory_gb",
    "memory_bandwidth_gb_s",
    "bf16_dense_tflops",
    "compute_capability",
)


def test_toml_files_ship_inside_the_package() -> None:
    names = {p.name for p in importlib.resources.files("dyno.catalog").iterdir()}
    assert {"hardware.toml", "models.toml", "quants.toml"} <= names


def test_every_required_entry_is_there() -> None:
    assert set(hardware_ids()) >= REQUIRED_HARDWARE
    assert set(catalog().models) >= REQUIRED_MODELS
    for mid in ("gemma-4-26b-a4b-it", "gemma-4-31b-it", "gemma-4-e4b-it", "gemma-4-e2b-it"):
        drafter = get_model(mid).drafter
        assert drafter == f"{mid}-assistant" and catalog().drafters[drafter].target == mid


def test_aliases_and_unknown_ids() -> None:
    assert get_hardware("dgx-spark").id == "gb10"
    assert get_hardware("DGX-Spark").sm == "sm_121" and get_hardware("gb10").is_sm12x
    assert not get_hardware("h100-sxm").is_sm12x
    with pytest.raises(UsageError, match=r"unknown hardware 'tpu'.*gb10"):
        get_hardware("tpu")
    with pytest.raises(UsageError, match="unknown model"):
        get_model("llama-9000")
    with pytest.raises(UsageError, match="unknown quant"):
        get_quant("int3")


def test_every_hardware_number_has_a_source_or_an_estimate_note() -> None:
    for h in catalog().hardware.values():
        for f in NUMERIC_HW_FIELDS:
            assert f in h.sources or f in h.estimated, f"{h.id}.{f} has no source"
        assert all(note.strip() for note in [*h.sources.values(), *h.estimated.values()])


def test_every_model_cites_its_architecture_and_parameter_counts() -> None:
    for m in catalog().models.values():
        assert "architecture" in m.sources and "params" in m.sources, m.id
        for v in m.variants:
            assert v.source.strip() and v.checkpoints, (m.id, v.quant)
    for d in catalog().drafters.values():
        assert "weights_gb" in d.sources


@pytest.mark.parametrize("model_id", sorted(REQUIRED_MODELS))
def test_architecture_adds_up_to_the_model_card(model_id: str) -> None:
    """Layer-by-layer counts from config.json values land on the card's totals."""
    m = get_model(model_id)
    p = param_counts(m)
    total = p.text_total if m.total_params_scope == "text" else p.total
    assert total / 1e9 == pytest.approx(m.total_params_b, rel=0.08)
    # the card's "active" sometimes counts the input embedding (Qwen3), ours does not
    assert p.active / 1e9 == pytest.approx(m.active_params_b, rel=0.1)


def test_local_models_match_their_converted_folders() -> None:
    for mid in ("smollm2-135m-instruct", "gemma3-270m-base"):
        m = get_model(mid)
        cfg = json.loads((FIXTURES / mid / "config.json").read_text())
        assert m.hidden_size == cfg["hidden_size"]
        assert m.vocab_size == cfg["vocab_size"]
        assert m.num_layers == cfg["num_hidden_layers"]
        assert m.tied_embeddings == cfg["tie_word_embeddings"]
        assert m.max_context == cfg["max_position_embeddings"]
        assert {g.kv_heads for g in m.attention} == {cfg["num_key_value_heads"]}
        assert m.instruct == (FIXTURES / mid / "chat_template.jinja").exists()
    sliding = sum(
        1
        for t in json.loads((FIXTURES / "gemma3-270m-base/config.json").read_text())["layer_types"]
        if t == "sliding_attention"
    )
    assert get_model("gemma3-270m-base").attention[0].layers == sliding


def test_find_model_by_checkpoint_hub_id_path_or_id() -> None:
    hit = find_model("RedHatAI/gemma-4-26B-A4B-it-FP8-Dynamic")
    assert (
        hit is not None and hit[0].id == "gemma-4-26b-a4b-it" and hit[1] is not None and hit[1].quant == "fp8"
    )
    hit = find_model("google/gemma-4-26B-A4B")
    assert hit is not None and hit[0].id == "gemma-4-26b-a4b" and not hit[0].instruct
    hit = find_model("/home/me/.cache/dyno/models/smollm2-135m-instruct/")
    assert hit is not None and hit[0].id == "smollm2-135m-instruct"
    assert find_model("meta-llama/Llama-3-8B") is None
    d = find_drafter("google/gemma-4-31B-it-assistant")
    assert d is not None and d.target == "gemma-4-31b-it"


def test_quant_bytes_include_their_scales() -> None:
    assert get_quant("bf16").bytes_per_weight == 2.0
    assert get_quant("nvfp4").bytes_per_weight == pytest.approx(0.5 + 1 / 16)
    # OCP MX: 32 E2M1 values share one E8M0 byte
    assert get_quant("mxfp4").bytes_per_weight == pytest.approx(0.5 + 1 / 32)
    # W4A16, group 128: an FP16 scale and a 4-bit zero per group
    assert get_quant("awq-int4").bytes_per_weight == pytest.approx(0.5 + (2 + 0.5) / 128)
    assert get_quant("gptq-int4").bytes_per_weight == pytest.approx(0.5 + (2 + 0.5) / 128)
    # group 32 with int8 zero points (the larger of the two readings, see quants.toml)
    assert get_quant("awq-int4-g32").bytes_per_weight == pytest.approx(0.5 + (2 + 1) / 32)


def test_every_quant_states_bits_and_bytes_alike_with_a_source() -> None:
    for q in catalog().quants.values():
        assert q.bits_per_weight / 8 == pytest.approx(q.bytes_per_weight, rel=1e-3), q.id
        noted = {**q.sources, **q.estimated}
        assert "bytes_per_weight" in noted or "bits_per_weight" in noted, q.id
    for qid in ("awq-int4", "gptq-int4", "awq-int4-g32", "mxfp4"):
        q = get_quant(qid)
        assert q.kind == ("fp4" if qid == "mxfp4" else "int4")
        assert any("https://" in note for note in q.sources.values()), qid
    assert "2306.00978" in get_quant("awq-int4").sources["format"]
    assert "2210.17323" in get_quant("gptq-int4").sources["format"]
    assert "microscaling" in get_quant("mxfp4").sources["bytes_per_weight"].lower()


def test_field_reports_name_known_hardware_and_stay_under_the_ceiling() -> None:
    reports = 0
    for m in catalog().models.values():
        for v in m.variants:
            for r in v.field_reports:
                reports += 1
                hw = get_hardware(r.hardware)
                ceiling = decode_ceiling_tok_s(
                    hw, bytes_per_token(m, v, get_quant(v.quant), context_tokens=0).total
                )
                assert 0 < r.decode_tok_s <= ceiling, (m.id, v.quant, r.decode_tok_s, ceiling)
                assert r.source.strip()
    assert reports >= 4


def test_the_31b_awq_variant_and_its_field_report() -> None:
    hit = find_model("cyankiwi/gemma-4-31B-it-AWQ-4bit")
    assert hit is not None and hit[0].id == "gemma-4-31b-it" and hit[1] is not None
    variant = hit[1]
    assert variant.quant == "awq-int4-g32" and not variant.online
    (report,) = variant.field_reports
    assert (report.hardware, report.decode_tok_s) == ("gb10", 10.6)
    # the field saw AWQ beat NVFP4 on GB10 (6.9 tok/s)
    nvfp4 = get_model("gemma-4-31b-it").variant("nvfp4")
    assert nvfp4 is not None and nvfp4.field_reports[0].decode_tok_s < report.decode_tok_s


def test_cpu_entry_is_measured_and_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    h = get_hardware("cpu", cpu_cache=cache)
    assert h.id == "cpu" and not h.is_gpu and h.memory_bandwidth_gb_s > 0 and h.bf16_dense_tflops > 0
    assert "memory_bandwidth_gb_s" in h.measured
    stored = json.loads((cache / cpu_probe.CACHE_FILE).read_text())
    assert stored["memory_bandwidth_gb_s"] == h.memory_bandwidth_gb_s
    # a second lookup reads the cache instead of measuring again
    stored["memory_bandwidth_gb_s"] = 12.5
    (cache / cpu_probe.CACHE_FILE).write_text(json.dumps(stored))
    assert get_hardware("cpu", cpu_cache=cache).memory_bandwidth_gb_s == 12.5
    # a cache written on another CPU is measured afresh
    stored["cpu_model"] = "some other cpu"
    (cache / cpu_probe.CACHE_FILE).write_text(json.dumps(stored))
    assert get_hardware("cpu", cpu_cache=cache).memory_bandwidth_gb_s != 12.5
