"""The roofline printed next to a measured decode figure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dyno.catalog import get_hardware, get_model, get_quant
from dyno.plan import bytes_per_token, served_model_ceiling_tok_s


def test_ceiling_for_a_served_name_is_bandwidth_over_bytes_per_token() -> None:
    hw = replace(get_hardware("h100-sxm"), memory_bandwidth_gb_s=100.0)
    model = get_model("smollm2-135m-instruct")
    variant = model.variants[0]
    tb = bytes_per_token(model, variant, get_quant(variant.quant), context_tokens=300)
    assert served_model_ceiling_tok_s(hw, "smollm2-135m-instruct", 300) == pytest.approx(100e9 / tb.total)
    # a longer context reads more KV per token: a lower ceiling
    assert served_model_ceiling_tok_s(hw, "smollm2-135m-instruct", 2000) < served_model_ceiling_tok_s(  # type: ignore[operator]
        hw, "smollm2-135m-instruct", 300
    )


def test_unknown_served_name_has_no_ceiling() -> None:
    assert served_model_ceiling_tok_s(get_hardware("h100-sxm"), "my-private-finetune", 300) is None
