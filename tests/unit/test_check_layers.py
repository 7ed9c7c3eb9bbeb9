"""tools/check_layers.py: the layer order held once. It must pass on src/ and catch what it is for."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_layers", ROOT / "tools" / "check_layers.py")
assert spec is not None and spec.loader is not None
check_layers = importlib.util.module_from_spec(spec)
sys.modules["check_layers"] = check_layers
spec.loader.exec_module(check_layers)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "dyno"
    for rel, text in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return src


def test_src_holds_the_order() -> None:
    assert check_layers.check(ROOT / "src" / "dyno") == []


def test_an_upward_import_is_named_with_its_line(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "store/__init__.py": "",
            "store/db.py": "import json\n\nfrom dyno.report.render import x\n",
            "report/__init__.py": "",
            "report/render.py": "x = 1\n",
        },
    )
    problems = check_layers.check(src)
    assert len(problems) == 1 and "store/db.py:3" in problems[0] and "report" in problems[0]


def test_a_function_level_import_counts_and_a_circle_is_found(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "probe/__init__.py": "",
            "probe/a.py": "def f():\n    from dyno.probe import b\n",
            "probe/b.py": "from dyno.probe import a\n",
            "bench/__init__.py": "",
            "bench/c.py": "def g():\n    from dyno.tune import d\n",
            "tune/__init__.py": "",
            "tune/d.py": "",
        },
    )
    problems = check_layers.check(src)
    assert any("bench/c.py:2" in p for p in problems)
    assert any(
        p.startswith("import circle") and "dyno.probe.a" in p and "dyno.probe.b" in p for p in problems
    )
