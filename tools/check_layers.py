#!/usr/bin/env python3
"""Fail on an import that climbs the layer order, or on an import circle between modules.

The layer order of ../shared/DESIGN.md, held here once: each layer may import
the layers before it in LAYERS and nothing after it. Every import counts,
including those under `if TYPE_CHECKING:` and inside functions: a circle
hidden behind TYPE_CHECKING is still two modules that must change together.

    python tools/check_layers.py [SRC]     # SRC defaults to src/dyno; exit 1 on a finding
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

# Lowest first. A tuple is one rung: its members may import each other (and everything below),
# but not a module further up. The foundation rung holds the modules every layer may use.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "settings", "signals"),
    ("catalog",),
    ("plan",),
    ("recipe",),
    ("redact",),
    ("lint",),
    ("client",),
    ("metrics",),
    ("provenance",),
    ("store",),
    ("workloads",),
    ("engine",),
    ("bench",),
    ("probe",),
    ("verify",),
    ("capacity",),
    ("tune",),
    ("report",),
    ("cli",),
)
RANK = {name: i for i, rung in enumerate(LAYERS) for name in rung}


def module_name(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports(src: Path, path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every `dyno.*` import in the file, relative ones resolved."""
    me = module_name(src, path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from dyno.x import y` may name a module y: count it as that module when it is one.
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append(
                    (
                        sub
                        if (src.parent / sub.replace(".", "/")).exists()
                        or (src.parent / (sub.replace(".", "/") + ".py")).exists()
                        else target,
                        node.lineno,
                    )
                )
    return [(m, line) for m, line in out if m == "dyno" or m.startswith("dyno.")]


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def check(src: Path) -> list[str]:
    problems: list[str] = []
    graph: dict[str, set[str]] = defaultdict(set)
    files = sorted(src.rglob("*.py"))
    for path in files:
        me = module_name(src, path)
        graph[me]
        mine = layer_of(me)
        if mine not in RANK:
            problems.append(f"{path}: layer {mine!r} is not in the layer order (tools/check_layers.py)")
            continue
        for target, line in imports(src, path):
            if target != me and not me.startswith(target + "."):  # a package's own __init__ is not a cycle
                graph[me].add(target)
            theirs = layer_of(target)
            if theirs == mine:
                continue
            if theirs not in RANK:
                problems.append(f"{path}:{line}: imports {target}, whose layer is not in the layer order")
            elif RANK[theirs] > RANK[mine]:
                problems.append(f"{path}:{line}: {mine} imports {target} ({theirs} is above {mine})")
    for comp in cycles(graph):
        problems.append("import circle: " + " <-> ".join(comp))
    return problems


def main(argv: list[str]) -> int:
    src = Path(argv[1] if len(argv) > 1 else "src/dyno").resolve()
    problems = check(src)
    n = sum(1 for _ in src.rglob("*.py"))
    for p in problems:
        print(p)
    order = " < ".join("|".join(r) for r in LAYERS)
    if problems:
        print(f"layer check: {len(problems)} problem(s) in {n} modules; order: {order}")
        return 1
    print(f"layer check: {n} modules, no upward import, no circle; order: {order}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
