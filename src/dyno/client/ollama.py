"""Ollama's native API, read: what is loaded and where (/api/ps), what the model is (/api/show),
and the server's own timing of a request (the final chunk of /api/chat).

Ollama serves the OpenAI-compatible /v1 that dyno measures through, but only
its native API says the things that make an Ollama number right or wrong:
how much of the model sits in GPU memory (`size_vram` below `size` means
part of it runs on the CPU, at a fraction of the speed), the context it
actually allocated (its default is far below most models' trained context,
and longer prompts are truncated without an error), and how long a request
spent loading the model. Shapes follow Ollama's api/types.go; every duration
there is integer nanoseconds, left out when zero (Go's omitempty), and is
turned into milliseconds in one place: `timing_from_final`.

The pydantic models are the boundary; the rest of dyno sees the frozen
dataclasses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from dyno.client.endpoint import Endpoint

NS_PER_MS = 1_000_000
GIB = 1024**3


class _Details(BaseModel):
    model_config = ConfigDict(extra="ignore")
    family: str = ""
    parameter_size: str = ""
    quantization_level: str = ""


class _PsModel(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    model: str = ""
    size: int
    size_vram: int = 0
    context_length: int | None = None  # only from Ollama 0.9.7 on
    expires_at: str | None = None
    details: _Details = _Details()


class _Ps(BaseModel):
    model_config = ConfigDict(extra="ignore")
    models: list[_PsModel] = []


class _Show(BaseModel):
    model_config = ConfigDict(extra="ignore")
    details: _Details = _Details()
    model_info: dict[str, Any] = {}
    parameters: str = ""
    capabilities: list[str] = []


class _Final(BaseModel):
    """The last object of a native stream (`done: true`); a zero duration is absent, hence the defaults."""

    model_config = ConfigDict(extra="ignore")
    done: bool
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0
    prompt_eval_duration: int = 0
    eval_count: int = 0
    eval_duration: int = 0


@dataclass(frozen=True)
class LoadedModel:
    """One entry of /api/ps: a model Ollama holds in memory right now."""

    name: str
    size_bytes: int
    size_vram_bytes: int
    context_length: int | None  # allocated; None from a server older than 0.9.7
    expires_at: str | None
    quantization: str
    parameter_size: str

    @property
    def cpu_bytes(self) -> int:
        return max(0, self.size_bytes - self.size_vram_bytes)

    @property
    def gpu_fraction(self) -> float:
        return self.size_vram_bytes / self.size_bytes if self.size_bytes > 0 else 0.0


@dataclass(frozen=True)
class ModelCard:
    """What /api/show says about a model."""

    architecture: str | None
    trained_context: int | None  # model_info["<arch>.context_length"]
    modelfile_num_ctx: int | None  # `num_ctx` in the Modelfile's parameters, when it sets one
    family: str
    quantization: str
    parameter_size: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class OllamaTiming:
    """Ollama's own account of one request, in milliseconds."""

    total_duration_ms: float
    load_duration_ms: float
    prompt_eval_count: int
    prompt_eval_duration_ms: float
    eval_count: int
    eval_duration_ms: float

    @property
    def decode_tok_s(self) -> float | None:
        return self.eval_count * 1e3 / self.eval_duration_ms if self.eval_duration_ms > 0 else None

    @property
    def prefill_tok_s(self) -> float | None:
        d = self.prompt_eval_duration_ms
        return self.prompt_eval_count * 1e3 / d if d > 0 else None

    @property
    def server_ttft_ms(self) -> float:
        """Load plus prompt evaluation: Ollama reports no queue time, so waiting for a busy runner
        shows up only in total_duration."""
        return self.load_duration_ms + self.prompt_eval_duration_ms

    def as_server_timing(self) -> dict[str, Any]:
        """For RequestRecord.server_timing."""
        return {"source": "ollama", **asdict(self)}

    @classmethod
    def from_server_timing(cls, st: dict[str, Any] | None) -> OllamaTiming | None:
        if not st or st.get("source") != "ollama":
            return None
        try:
            return cls(**{k: st[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError):
            return None


@dataclass(frozen=True)
class OllamaFacts:
    version: str | None
    ps: tuple[LoadedModel, ...] | None  # every loaded model; None: /api/ps did not answer
    loaded: LoadedModel | None  # the model asked about, when it is loaded
    card: ModelCard | None  # None: /api/show did not answer


def timing_from_final(chunk: dict[str, Any]) -> OllamaTiming | None:
    """The one place Ollama's nanoseconds become milliseconds. None unless `chunk` is a final one."""
    try:
        f = _Final.model_validate(chunk)
    except ValidationError:
        return None
    if not f.done:
        return None
    return OllamaTiming(
        total_duration_ms=f.total_duration / NS_PER_MS,
        load_duration_ms=f.load_duration / NS_PER_MS,
        prompt_eval_count=f.prompt_eval_count,
        prompt_eval_duration_ms=f.prompt_eval_duration / NS_PER_MS,
        eval_count=f.eval_count,
        eval_duration_ms=f.eval_duration / NS_PER_MS,
    )


def same_model(a: str, b: str) -> bool:
    """/api/ps names a model with its tag ("llama3.2:latest"); a user may leave `:latest` off."""
    return a.removesuffix(":latest") == b.removesuffix(":latest")


def parse_ps(doc: Any) -> list[LoadedModel] | None:
    """/api/ps; None when it is not /api/ps's shape."""
    try:
        ps = _Ps.model_validate(doc)
    except ValidationError:
        return None
    return [
        LoadedModel(
            m.name,
            m.size,
            m.size_vram,
            m.context_length,
            m.expires_at,
            m.details.quantization_level,
            m.details.parameter_size,
        )
        for m in ps.models
    ]


def find_loaded(loaded: list[LoadedModel], model: str) -> LoadedModel | None:
    return next((m for m in loaded if same_model(m.name, model)), None)


def _num_ctx(parameters: str) -> int | None:
    for line in parameters.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "num_ctx" and value.strip().isdigit():
            return int(value.strip())
    return None


def parse_show(doc: Any) -> ModelCard | None:
    """/api/show; None when it is not /api/show's shape."""
    try:
        show = _Show.model_validate(doc)
    except ValidationError:
        return None
    arch = show.model_info.get("general.architecture")
    ctx = show.model_info.get(f"{arch}.context_length") if isinstance(arch, str) else None
    return ModelCard(
        arch if isinstance(arch, str) else None,
        ctx if isinstance(ctx, int) else None,
        _num_ctx(show.parameters),
        show.details.family,
        show.details.quantization_level,
        show.details.parameter_size,
        tuple(show.capabilities),
    )


def gather_facts(ep: Endpoint, model: str) -> OllamaFacts:
    """Version, where `model` is loaded, and its card; every part None when its route does not answer."""
    ps = parse_ps(ep.json_or_none("/api/ps"))
    return OllamaFacts(
        ep.identify()[1],
        None if ps is None else tuple(ps),
        None if ps is None else find_loaded(ps, model),
        parse_show(ep.post_json_or_none("/api/show", {"model": model})),
    )
