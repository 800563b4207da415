"""The suite's own start (``tests/conftest.py``): the rewritten bytecode written before the
workers start is what a worker's import of the test module compiles, byte for byte, and a
test module changed since is compiled again, never run from the old bytecode."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.assertion import rewrite

from tests.conftest import write_bytecode

SOURCE = "def test_sum():\n    x = 1\n    assert x + 1 == 3, 'the message'\n"


def test_the_written_bytecode_is_the_rewrite_a_worker_compiles(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    fn = tmp_path / "test_sample.py"
    fn.write_text(SOURCE)
    helper = tmp_path / "sample_helper.py"
    helper.write_text("VALUE = 1\n")
    write_bytecode([fn, helper], pytestconfig)
    pyc = rewrite.get_cache_dir(fn) / ("test_sample" + rewrite.PYC_TAIL)
    cached = rewrite._read_pyc(fn, pyc)
    assert cached is not None
    _, fresh = rewrite._rewrite_test(fn, pytestconfig)
    # code objects compare by their instructions, constants, names and nested code (marshal's
    # bytes differ in its reference flags between loaded and freshly compiled code)
    assert cached == fresh
    # the control: plain compiled code (asserts not rewritten) differs from it
    plain = compile(SOURCE, str(fn), "exec", dont_inherit=True)
    assert plain != fresh
    assert (tmp_path / "__pycache__").is_dir() and any(
        p.name.startswith("sample_helper.") for p in (tmp_path / "__pycache__").iterdir()
    )
    # changed since: the bytecode is stale (the worker rewrites it), and is written anew
    fn.write_text(SOURCE.replace("== 3", "== 2"))
    assert rewrite._read_pyc(fn, pyc) is None
    write_bytecode([fn], pytestconfig)
    again = rewrite._read_pyc(fn, pyc)
    assert again is not None
    assert again == rewrite._rewrite_test(fn, pytestconfig)[1] and again != cached


def test_a_module_that_does_not_parse_is_left_to_the_worker(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    fn = tmp_path / "test_broken.py"
    fn.write_text("def test_x(:\n")
    write_bytecode([fn], pytestconfig)  # no error here: collecting it reports it
    assert not (rewrite.get_cache_dir(fn) / ("test_broken" + rewrite.PYC_TAIL)).exists()
