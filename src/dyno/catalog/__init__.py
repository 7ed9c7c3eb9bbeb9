"""Hardware and model facts (shipped TOML, every number with its source), as frozen dataclasses."""

from dyno.catalog.load import (
    catalog,
    find_drafter,
    find_model,
    get_drafter,
    get_hardware,
    get_model,
    get_quant,
    hardware_ids,
)
from dyno.catalog.types import (
    AttentionGroup,
    Drafter,
    FieldReport,
    Hardware,
    MlpGroup,
    Model,
    Moe,
    QuantFormat,
    Variant,
)

__all__ = [
    "AttentionGroup",
    "Drafter",
    "FieldReport",
    "Hardware",
    "MlpGroup",
    "Model",
    "Moe",
    "QuantFormat",
    "Variant",
    "catalog",
    "find_drafter",
    "find_model",
    "get_drafter",
    "get_hardware",
    "get_model",
    "get_quant",
    "hardware_ids",
]
