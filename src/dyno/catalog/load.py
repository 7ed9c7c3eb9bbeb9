"""Load the shipped TOML catalog (validated by pydantic) into frozen dataclasses, and look entries up."""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dyno.catalog import cpu
from dyno.catalog.types import (
    AttentionGroup,
    Drafter,
    FieldReport,
    Hardware,
    MlpGroup,
    Model,
    Moe,
    QuantFormat,
    TensorGroup,
    Variant,
)
from dyno.errors import UsageError

T = TypeVar("T")

DEFAULT_QUANTIZED: tuple[TensorGroup, ...] = ("attention", "mlp", "experts")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _HardwareIn(_Strict):
    name: str
    aliases: list[str] = []
    memory_gb: float = Field(gt=0)
    memory_bandwidth_gb_s: float = Field(gt=0)
    unified_memory: bool
    compute_capability: str
    native_fp8: bool
    native_fp4_moe: bool
    bf16_dense_tflops: float = Field(gt=0)
    cuda_device_name: str
    runtime_overhead_gb: float = Field(ge=0)
    os_headroom_gb: float = Field(ge=0)
    sources: dict[str, str] = {}
    estimated: dict[str, str] = {}


class _QuantIn(_Strict):
    name: str
    bits_per_weight: float = Field(gt=0)
    bytes_per_weight: float = Field(gt=0)
    kind: Literal["none", "fp8", "fp4", "int4", "gguf"]
    vllm_quantization: str
    sources: dict[str, str] = {}
    estimated: dict[str, str] = {}


class _AttentionIn(_Strict):
    kind: Literal["sliding", "global"]
    layers: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    kv_layers: int | None = None
    k_eq_v: bool = False


class _MlpIn(_Strict):
    layers: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)


class _MoeIn(_Strict):
    layers: int = Field(gt=0)
    experts: int = Field(gt=0)
    top_k: int = Field(gt=0)
    expert_intermediate_size: int = Field(gt=0)


class _FieldReportIn(_Strict):
    hardware: str
    decode_tok_s: float = Field(gt=0)
    source: str = Field(min_length=1)


class _VariantIn(_Strict):
    quant: str
    checkpoints: list[str]
    online: bool = False
    quantized: list[TensorGroup] = list(DEFAULT_QUANTIZED)
    source: str
    field_reports: list[_FieldReportIn] = []


class _ModelIn(_Strict):
    name: str
    family: str
    tokenizer: str
    hub_id: str
    local: bool = False
    instruct: bool
    instruct_variant: str = ""
    multimodal: bool
    modalities: list[str] = []
    tool_call_parser: str = ""
    reasoning_parser: str = ""
    drafter: str = ""
    total_params_b: float = Field(gt=0)
    total_params_scope: Literal["text", "all"]
    active_params_b: float = Field(gt=0)
    hidden_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    tied_embeddings: bool
    max_context: int = Field(gt=0)
    sliding_window: int = 0
    num_attention_heads: int = Field(gt=0)
    vision_params_b: float = 0.0
    audio_params_b: float = 0.0
    per_layer_embedding_params_b: float = 0.0
    attention: list[_AttentionIn]
    mlp: list[_MlpIn] = []
    moe: _MoeIn | None = None
    variants: list[_VariantIn]
    sources: dict[str, str] = {}
    estimated: dict[str, str] = {}


class _DrafterIn(_Strict):
    name: str
    hub_id: str
    target: str
    tokenizer: str
    method: str
    weights_gb: float = Field(gt=0)
    sources: dict[str, str] = {}
    estimated: dict[str, str] = {}


class _CatalogIn(_Strict):
    hardware: dict[str, _HardwareIn] = {}
    quants: dict[str, _QuantIn] = {}
    models: dict[str, _ModelIn] = {}
    drafters: dict[str, _DrafterIn] = {}


def _read(name: str) -> dict[str, Any]:
    text = importlib.resources.files("dyno.catalog").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _frozen(cls: type[T], src: BaseModel, **given: Any) -> T:
    """The frozen catalog entry `cls` from its validated TOML `src`: each field of `cls` that `src` has,
    lists as tuples and an empty value ("" or 0) of an optional field as None, then `given`."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # every catalog entry is a dataclass
        if f.name in given or f.name not in type(src).model_fields:
            continue
        v = getattr(src, f.name)
        if isinstance(v, list):
            v = tuple(v)
        elif isinstance(v, dict):
            v = dict(v)
        elif not v and not isinstance(v, bool) and "None" in str(f.type):
            v = None
        values[f.name] = v
    return cls(**values, **given)


def _to_model(mid: str, m: _ModelIn) -> Model:
    return _frozen(
        Model,
        m,
        id=mid,
        attention=tuple(
            AttentionGroup(
                kind=a.kind,
                layers=a.layers,
                head_dim=a.head_dim,
                kv_heads=a.kv_heads,
                kv_layers=a.layers if a.kv_layers is None else a.kv_layers,
                k_eq_v=a.k_eq_v,
            )
            for a in m.attention
        ),
        mlp=tuple(MlpGroup(g.layers, g.intermediate_size) for g in m.mlp),
        moe=None
        if m.moe is None
        else Moe(m.moe.layers, m.moe.experts, m.moe.top_k, m.moe.expert_intermediate_size),
        variants=tuple(
            Variant(
                v.quant,
                tuple(v.checkpoints),
                v.online,
                tuple(v.quantized),
                v.source,
                tuple(FieldReport(r.hardware, r.decode_tok_s, r.source) for r in v.field_reports),
            )
            for v in m.variants
        ),
        sources=dict(m.sources),
        estimated=dict(m.estimated),
    )


class Catalog:
    """Everything in the shipped TOML files, checked for internal consistency on load."""

    def __init__(self, raw: _CatalogIn) -> None:
        self.hardware: dict[str, Hardware] = {
            hid: _frozen(Hardware, h, id=hid) for hid, h in raw.hardware.items()
        }
        self.quants: dict[str, QuantFormat] = {
            qid: _frozen(QuantFormat, q, id=qid) for qid, q in raw.quants.items()
        }
        self.models: dict[str, Model] = {mid: _to_model(mid, m) for mid, m in raw.models.items()}
        self.drafters: dict[str, Drafter] = {
            did: _frozen(Drafter, d, id=did) for did, d in raw.drafters.items()
        }
        self._check()

    def _check(self) -> None:
        for m in self.models.values():
            for v in m.variants:
                if v.quant not in self.quants:
                    raise ValueError(f"model {m.id}: unknown quant {v.quant!r}")
                for r in v.field_reports:
                    if r.hardware not in self.hardware:
                        raise ValueError(f"model {m.id}: field report on unknown hardware {r.hardware!r}")
            if m.drafter and m.drafter not in self.drafters:
                raise ValueError(f"model {m.id}: unknown drafter {m.drafter!r}")
            if m.instruct_variant and m.instruct_variant not in self.models:
                raise ValueError(f"model {m.id}: unknown instruct_variant {m.instruct_variant!r}")
            for g in m.attention:
                if g.kv_layers > g.layers:
                    raise ValueError(f"model {m.id}: kv_layers > layers")
        for d in self.drafters.values():
            if d.target not in self.models:
                raise ValueError(f"drafter {d.id}: unknown target {d.target!r}")


@functools.cache
def catalog() -> Catalog:
    raw: dict[str, Any] = {}
    for name in ("hardware.toml", "quants.toml", "models.toml"):
        raw.update(_read(name))
    try:
        return Catalog(_CatalogIn.model_validate(raw))
    except ValidationError as e:  # a packaging bug, not a user error
        raise RuntimeError(f"dyno's shipped catalog is invalid: {e}") from e


def _unknown(kind: str, value: str, known: list[str]) -> UsageError:
    return UsageError(f"unknown {kind} {value!r}; known: {', '.join(known)}")


def hardware_ids() -> list[str]:
    return [*catalog().hardware, cpu.CPU_ID]


def get_hardware(hardware_id: str, *, cpu_cache: Path | None = None) -> Hardware:
    """A hardware entry by id or alias; `cpu` is this machine, measured (cached under cpu_cache)."""
    key = hardware_id.strip().lower()
    if key == cpu.CPU_ID:
        return cpu.cpu_hardware(cpu_cache)
    cat = catalog()
    if key in cat.hardware:
        return cat.hardware[key]
    for h in cat.hardware.values():
        if key in h.aliases:
            return h
    raise _unknown("hardware", hardware_id, hardware_ids())


def _lookup(kind: str, table: Mapping[str, T], ref: str) -> T:
    """An entry by id (any case, spaces trimmed), or the one "unknown X" error naming the known ids."""
    found = table.get(ref.strip().lower())
    if found is None:
        raise _unknown(kind, ref, list(table))
    return found


def get_model(model_id: str) -> Model:
    return _lookup("model", catalog().models, model_id)


def get_quant(quant_id: str) -> QuantFormat:
    return _lookup("quant", catalog().quants, quant_id)


def get_drafter(drafter_id: str) -> Drafter:
    return _lookup("drafter", catalog().drafters, drafter_id)


def _names(ref: str) -> set[str]:
    """A model reference as it may appear: hub id, folder path, or bare name (case-insensitive)."""
    r = ref.strip().rstrip("/").lower()
    return {r, r.rsplit("/", 1)[-1]}


def find_model(ref: str) -> tuple[Model, Variant | None] | None:
    """The catalog model (and variant, when the checkpoint says) a hub id, path or id refers to."""
    names = _names(ref)
    for m in catalog().models.values():
        for v in m.variants:
            if v.online:
                continue
            for c in v.checkpoints:
                if c.lower() in names or c.lower().rsplit("/", 1)[-1] in names:
                    return m, v
    for m in catalog().models.values():
        if m.id in names or m.hub_id.lower() in names or m.hub_id.lower().rsplit("/", 1)[-1] in names:
            return m, None
    return None


def find_drafter(ref: str) -> Drafter | None:
    names = _names(ref)
    for d in catalog().drafters.values():
        if d.id in names or d.hub_id.lower() in names or d.hub_id.lower().rsplit("/", 1)[-1] in names:
            return d
    return None
