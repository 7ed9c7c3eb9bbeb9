"""What a tune sweeps: knobs from `--sweep NAME=VALUES`, the candidates they make, and each candidate's flags.

NAME is a vLLM flag (`max_num_seqs=4,8,16` -> `--max-num-seqs 4`) or a key
inside `--speculative-config` (`num_speculative_tokens`, `method`,
`prompt_lookup_max`, `prompt_lookup_min`, `model`). VALUES is a comma list or
an inclusive integer range `0..6`. `num_speculative_tokens=0` means
speculation off: the baseline every other candidate is verified against.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from dyno.errors import UsageError

SPEC_KEYS = ("num_speculative_tokens", "method", "prompt_lookup_max", "prompt_lookup_min", "model")
K = "num_speculative_tokens"
SHORT = {K: "k", "prompt_lookup_max": "plm", "prompt_lookup_min": "plmin", "max_num_seqs": "seqs"}
# Filled in when a sweep names speculation keys but not the method: the embedded case, prompt lookup.
SPEC_DEFAULTS: dict[str, Any] = {"method": "ngram", "prompt_lookup_max": 4}


@dataclass(frozen=True)
class Knob:
    name: str
    values: tuple[Any, ...]

    @property
    def spec(self) -> bool:
        return self.name in SPEC_KEYS


def _value(raw: str) -> Any:
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            continue
    return raw


def parse_sweep(raw: str) -> Knob:
    """`num_speculative_tokens=0..6`, `method=ngram,mtp`, `kv_cache_dtype=auto,fp8`."""
    name, sep, values = raw.partition("=")
    name = name.strip().lstrip("-").replace("-", "_")
    if not sep or not name or not values:
        raise UsageError(f"--sweep takes NAME=VALUES (a list a,b,c or a range 0..6), not {raw!r}")
    if m := re.fullmatch(r"\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*", values):
        lo, hi = int(m.group(1)), int(m.group(2))
        if hi < lo:
            raise UsageError(f"--sweep {name}: the range {values!r} is empty")
        vals: tuple[Any, ...] = tuple(range(lo, hi + 1))
    else:
        vals = tuple(_value(v.strip()) for v in values.split(",") if v.strip())
    if len(set(vals)) != len(vals) or not vals:
        raise UsageError(f"--sweep {name}: give each value once, not {values!r}")
    if name == K and any(not isinstance(v, int) or v < 0 for v in vals):
        raise UsageError(f"--sweep {K}: values are whole numbers >= 0 (0: speculation off)")
    return Knob(name, vals)


@dataclass(frozen=True)
class Candidate:
    """One point of the sweep: knob name -> value (in sweep order)."""

    values: tuple[tuple[str, Any], ...]

    @property
    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)

    @property
    def k(self) -> int | None:
        """Draft tokens; 0 is speculation off; None when the sweep does not set it."""
        v = self.as_dict.get(K)
        return int(v) if v is not None else None

    @property
    def speculative(self) -> bool:
        return self.k is not None and self.k > 0

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values)

    def short(self) -> str:
        """The label as a table shows it: k for the draft length, initials for long knob names."""
        return ", ".join(f"{SHORT.get(k, k)}={v}" for k, v in self.values)

    def simplicity(self) -> tuple[int, int, int]:
        """Smaller is simpler (ties go to it): speculation off, then fewer draft tokens, then fewer
        knobs away from the first value of their sweep."""
        return (
            1 if self.speculative else 0,
            self.k or 0,
            sum(1 for _, v in self.values if v not in (0, None)),
        )


def grid(knobs: list[Knob]) -> list[Candidate]:
    """Every combination; combinations that differ only in spec keys while speculation is off are one."""
    names = [k.name for k in knobs]
    seen: set[tuple[tuple[str, Any], ...]] = set()
    out = []
    for combo in itertools.product(*(k.values for k in knobs)):
        values = tuple(zip(names, combo, strict=True))
        d = dict(values)
        if d.get(K) == 0:  # no speculation: its other keys mean nothing
            values = tuple((n, v) for n, v in values if n not in SPEC_KEYS or n == K)
        if values not in seen:
            seen.add(values)
            out.append(Candidate(values))
    return out


def flags_for(c: Candidate, base_flags: tuple[str, ...]) -> tuple[str, ...]:
    """The flags to add to a profile's own for this candidate (a flag the profile sets is overridden)."""
    d = c.as_dict
    extra: list[str] = []
    spec = {k: v for k, v in d.items() if k in SPEC_KEYS}
    if spec and d.get(K, 1) != 0:
        cfg = {**SPEC_DEFAULTS, **_profile_spec(base_flags), **spec}
        if cfg.get("method") != "ngram":
            cfg = {k: v for k, v in cfg.items() if not k.startswith("prompt_lookup")}
        extra += ["--speculative-config", json.dumps(cfg, sort_keys=True)]
    for name, v in d.items():
        if name in SPEC_KEYS:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(v, bool) or v in ("true", "false"):
            extra.append(flag if v in (True, "true") else f"--no-{name.replace('_', '-')}")
        else:
            extra += [flag, str(v)]
    return tuple(extra)


def _profile_spec(flags: tuple[str, ...]) -> dict[str, Any]:
    for i, tok in enumerate(flags):
        if tok == "--speculative-config" and i + 1 < len(flags):
            try:
                v = json.loads(flags[i + 1])
            except json.JSONDecodeError:
                return {}
            return v if isinstance(v, dict) else {}
    return {}


def without_spec(flags: tuple[str, ...]) -> tuple[str, ...]:
    """A profile's flags minus its own --speculative-config (the sweep decides speculation)."""
    out: list[str] = []
    skip = False
    for tok in flags:
        if skip:
            skip = False
            continue
        if tok == "--speculative-config":
            skip = True
            continue
        if tok.startswith("--speculative-config="):
            continue
        out.append(tok)
    return tuple(out)


def baseline_of(cands: list[Candidate]) -> Candidate:
    """The one baseline rule: speculation off when the sweep has it; else the sweep's first config."""
    return next((c for c in cands if c.k == 0), cands[0])
