"""Local models that ship inside PyPI packages, converted for vLLM on CPU."""

from dyno.engine.models.local import LocalModel, fetch, gguf_file, list_models, model_dir
from dyno.engine.models.registry import LOCAL_MODELS, LocalModelSpec, get_spec

__all__ = [
    "LOCAL_MODELS",
    "LocalModel",
    "LocalModelSpec",
    "fetch",
    "get_spec",
    "gguf_file",
    "list_models",
    "model_dir",
]
