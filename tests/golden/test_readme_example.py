"""The README's library example runs as written on the real ESH4 hour and prints what its
comments say: the front door's code is tested like the rest."""

from __future__ import annotations

import contextlib
import io
import os
import re

from tests.conftest import ES_MBO, PROJECT_ROOT, need

README = PROJECT_ROOT / "README.md"


def library_example() -> str:
    """The first ``python`` code block after the README's "## The library" heading."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## The library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md: no python block under '## The library'"
    return match.group(1)


def expected_output(code: str) -> list[str]:
    """What each ``print(...)  # comment`` line of the example promises to print."""
    return [
        line.split("#", 1)[1].strip()
        for line in code.splitlines()
        if line.startswith("print(") and "#" in line
    ]


def test_readme_library_example_imports_from_package_level_only() -> None:
    code = library_example()
    imports = [line for line in code.splitlines() if line.startswith(("from ", "import "))]
    assert imports, "the example imports nothing"
    for line in imports:
        module = line.split()[1]
        assert module.count(".") == 1, f"deep import in the README example: {line}"
    assert len(code.strip().splitlines()) <= 15


def test_readme_library_example_runs_and_prints_its_comments() -> None:
    need(ES_MBO)
    code = library_example()
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(PROJECT_ROOT)  # the example's data path is relative to a clone's root
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    finally:
        os.chdir(cwd)
    printed = [line.strip() for line in out.getvalue().splitlines()]
    assert printed == expected_output(code)
