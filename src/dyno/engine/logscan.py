"""Read a vLLM log for the facts a user needs, and for why an engine died.

vLLM prints its most load-bearing facts only in its start-up log: the version,
the KV-cache size in tokens, the attention and MoE backends it chose, the
"default MoE config" warning that costs 20-25% decode. These patterns match the
messages vLLM 0.32's source logs (kv_cache_utils.py, gpu_model_runner.py,
platforms/cuda.py, fused_moe/...); tests run them on captured real lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# "(APIServer pid=4447) INFO 11-22 15:59:55 [model.py:733] Resolved architecture: ..."
_LINE = re.compile(
    r"^(?:\((?P<proc>[^)]*)\)\s+)?(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+"
    r"(?P<date>\d\d-\d\d)\s+(?P<time>[\d:.]+)\s+\[(?P<src>[^\]]+)\]\s+(?P<msg>.*)$"
)

_FACTS: dict[str, re.Pattern[str]] = {
    "engine_version": re.compile(
        r"Initializing a V\d LLM engine \(v(?P<v>[^)\s]+)\)|\bversion (?P<v2>\d+\.\d+\.\d+\S*)"
    ),
    "architecture": re.compile(r"Resolved architecture: (?P<v>\S+)"),
    "max_model_len": re.compile(r"Using max model len (?P<v>\d+)"),
    "dtype": re.compile(r"Downcasting \S+ to torch\.(?P<v>\w+)|dtype=torch\.(?P<v2>\w+)"),
    "kv_cache_tokens": re.compile(r"(?P<dev>\w+) KV cache size: (?P<v>[\d,]+) tokens"),
    "max_concurrency": re.compile(r"Maximum concurrency for [\d,]+ tokens per request: (?P<v>[\d.]+)x"),
    "model_memory_gib": re.compile(r"Model loading took (?P<v>[\d.]+) GiB"),
    "weights_load_s": re.compile(r"Loading weights took (?P<v>[\d.]+) seconds"),
    "attention_backend": re.compile(
        r"Using (?:AttentionBackendEnum\.)?(?P<v>[A-Z][A-Z0-9_]+) (?:attention )?backend"
    ),
    "moe_backend": re.compile(r"Using '?(?P<v>[\w.-]+?)'? (?:\w+ )?MoE backend"),
    "moe_default_config_file": re.compile(
        r"Using default MoE config\. Performance might be sub-optimal!.*?(?:at |file )?(?P<v>\S*\.json)?\s*$"
    ),
    "listen_address": re.compile(r"Starting vLLM (?:API )?server on (?P<v>\S+)"),
    "kv_cache_dtype": re.compile(r"kv_cache_dtype=(?P<v>\w+)"),
    "speculative_config": re.compile(r"speculative_config=(?P<v>None|SpeculativeConfig\([^)]*\))"),
    "kv_cache_memory_gib": re.compile(
        r"Available KV cache memory: (?P<v>[\d.]+) GiB"
        r"|Explicitly set \((?P<v2>[\d.]+)/[\d.]+\) GiB for KV cache"
    ),
}

_NUMERIC = {
    "kv_cache_memory_gib",
    "max_model_len",
    "kv_cache_tokens",
    "max_concurrency",
    "model_memory_gib",
    "weights_load_s",
}


@dataclass(frozen=True)
class LogFacts:
    """What an engine's log said about itself. Missing facts stay None."""

    engine_version: str | None = None
    architecture: str | None = None
    max_model_len: int | None = None
    dtype: str | None = None
    kv_cache_device: str | None = None
    kv_cache_tokens: int | None = None
    max_concurrency: float | None = None
    model_memory_gib: float | None = None
    weights_load_s: float | None = None
    attention_backend: str | None = None
    moe_backend: str | None = None
    moe_default_config: bool = False
    moe_default_config_file: str | None = None
    listen_address: str | None = None
    kv_cache_dtype: str | None = None
    speculative_config: str | None = None
    kv_cache_memory_gib: float | None = None
    warnings: tuple[tuple[str, int], ...] = field(default=())  # (message, times seen)

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "warnings"} | {
            "warnings": [list(w) for w in self.warnings]
        }


def speculation(facts: dict[str, object]) -> tuple[str, int] | None:
    """(method, draft tokens) as the engine logged its config at start; None when it runs without."""
    v = facts.get("speculative_config")
    if not isinstance(v, str):
        return None
    m = re.search(r"method='([^']+)'.*?num_spec_tokens=(\d+)", v)
    return (m.group(1), int(m.group(2))) if m else None


def split_line(line: str) -> tuple[str | None, str | None, str]:
    """(level, source, message) of a vLLM log line; (None, None, line) for anything else."""
    m = _LINE.match(line.rstrip("\n"))
    if not m:
        return None, None, line.rstrip("\n")
    return m["level"], m["src"], m["msg"]


def scan(lines: Iterable[str]) -> LogFacts:
    found: dict[str, object] = {}
    warnings: dict[str, tuple[str, int]] = {}
    for raw in lines:
        level, src, msg = split_line(raw)
        if level == "WARNING" and src is not None:
            # One entry per source location: vLLM repeats some warnings per
            # layer ("Attempted to load weight ..."), which would drown the rest.
            first, n = warnings.get(src, (msg, 0))
            warnings[src] = (first, n + 1)
        for key, pat in _FACTS.items():
            if key in found and key != "moe_default_config_file":
                continue
            m = pat.search(msg)
            if not m:
                continue
            value = next((v for k, v in m.groupdict().items() if k.startswith("v") and v), None)
            if key == "kv_cache_tokens":
                found["kv_cache_device"] = m["dev"]
            if key == "moe_default_config_file":
                found["moe_default_config"] = True
            if value is None:
                continue
            found[key] = _coerce(key, value)
    return LogFacts(**found, warnings=tuple(warnings.values()))  # type: ignore[arg-type]


def _coerce(key: str, value: str) -> object:
    if key not in _NUMERIC:
        return value
    number = float(value.replace(",", ""))
    return int(number) if key in {"max_model_len", "kv_cache_tokens"} else number


# Why did the engine die? Ordered: the first rule that matches the tail wins.
_CAUSES: list[tuple[str, re.Pattern[str]]] = [
    ("unknown flag", re.compile(r"error: unrecognized arguments: (?P<d>.+)")),
    ("bad flag value", re.compile(r"error: argument (?P<d>--\S+: .+)")),
    ("port busy", re.compile(r"(?P<d>\[Errno 98\].*|Address already in use.*)")),
    (
        "out of memory",
        re.compile(
            r"(?P<d>(?:CUDA|torch\.)?\w*OutOfMemoryError.*|CUDA out of memory.*|Cannot allocate memory.*|"
            r"Available memory on node .* is less than .*|No available memory for the cache blocks.*|"
            r"insufficient memory.*)",
            re.I,
        ),
    ),
    (
        "missing model",
        re.compile(
            r"(?P<d>HFValidationError: .*|LocalEntryNotFoundError: .*|RepositoryNotFoundError: .*|"
            r".*does not appear to have a file named .*|.*is not a local folder and is not a valid model.*|"
            r"(?:OSError|FileNotFoundError): .*(?:config\.json|No such file or directory).*)"
        ),
    ),
    (
        "import error",
        re.compile(
            r"(?P<d>(?:ModuleNotFoundError|ImportError|PackageNotFoundError)\b.*|"
            r".*(?:No package metadata was found for \S+).*)"
        ),
    ),
]


def diagnose(tail: list[str]) -> str:
    """One line naming why an engine died, from the last lines of its log."""
    messages = [split_line(t)[2].strip() for t in tail]
    for cause, pat in _CAUSES:
        for msg in reversed(messages):
            m = pat.search(msg)
            if m:
                return f"{cause}: {m['d'].strip()}"
    for msg in reversed(messages):
        if re.match(r"^[\w.]*(Error|Exception)\b", msg) or msg.startswith("RuntimeError"):
            return msg
    return "the engine exited; see the log lines below"
