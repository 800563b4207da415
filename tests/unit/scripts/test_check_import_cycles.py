"""scripts/check_import_cycles.py: finds a circle planted in a temporary package, however the
imports hide (inside a function, under TYPE_CHECKING), names it, and passes a clean package."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "check_import_cycles.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_import_cycles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for module, text in modules.items():
        (pkg / f"{module}.py").write_text(text)


def _run(root: Path, *packages: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, str(SCRIPT), *packages], capture_output=True,
                          text=True, env=env, check=False)  # fmt: skip


PLANTED = {
    # a -> b at module level, b -> c inside a function, c -> a only for the type checker
    "a": "from planted import b\n",
    "b": "def late():\n    from planted import c\n    return c\n",
    "c": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from planted import a\n",
    "d": "from planted import a\n",  # imports the circle, is not in it
}


def test_a_planted_circle_is_found_and_named(tmp_path, monkeypatch):
    _package(tmp_path, "planted", PLANTED)
    monkeypatch.syspath_prepend(str(tmp_path))
    circles = _script().find_circles(["planted"])
    assert [c.modules for c in circles] == [("planted.a", "planted.b", "planted.c")]
    loop = circles[0].loop
    assert [(a, b) for a, b, _ in loop] == [
        ("planted.a", "planted.b"), ("planted.b", "planted.c"), ("planted.c", "planted.a"),
    ]  # fmt: skip
    assert [lines for _, _, lines in loop] == [(1,), (2,), (4,)]


def test_the_script_exits_non_zero_naming_the_circle(tmp_path):
    _package(tmp_path, "planted", PLANTED)
    got = _run(tmp_path, "planted")
    assert got.returncode == 1
    assert "import circle: planted.a -> planted.b -> planted.c -> planted.a" in got.stderr
    assert "planted.b imports planted.c (line 2)" in got.stderr


def test_a_module_importing_itself_is_a_circle(tmp_path):
    _package(tmp_path, "selfish", {"a": "def f():\n    from selfish import a\n    return a\n"})
    got = _run(tmp_path, "selfish")
    assert got.returncode == 1
    assert "import circle: selfish.a -> selfish.a" in got.stderr


def test_a_package_without_circles_passes(tmp_path):
    _package(tmp_path, "layered", {"low": "X = 1\n", "mid": "from layered import low\n",
                                   "top": "from layered import low, mid\n"})  # fmt: skip
    got = _run(tmp_path, "layered")
    assert got.returncode == 0, got.stderr
    assert "no import circle in layered" in got.stdout
